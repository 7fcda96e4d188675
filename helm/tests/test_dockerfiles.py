"""The services' Dockerfiles, read (no Docker engine here) and their build-time settings tried."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from .chart import CHART, REPO

FOLDERS = ["auth_service", "tickets_service", "orders_service", "payments_service", "expiration_service", "web_client"]
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def dockerfile(folder: str) -> str:
    return (REPO / folder / "Dockerfile").read_text()


def collectstatic_env(text: str) -> dict[str, str]:
    """The placeholder settings the Dockerfile gives `manage.py collectstatic`."""
    match = re.search(r"RUN ((?:[A-Z_]+=\S+ \\\n\s*)+)python manage.py collectstatic", text)
    assert match, "no RUN <settings> python manage.py collectstatic"
    return dict(word.split("=", 1) for word in shlex.split(match.group(1).replace("\\\n", " ")))


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_image_is_slim_multi_stage_and_non_root(folder):
    text = dockerfile(folder)
    assert "ARG PYTHON_IMAGE=python:3.11-slim\n" in text
    assert len(re.findall(r"^FROM \$\{PYTHON_IMAGE\} AS \w+$", text, re.MULTILINE)) == 2
    assert "COPY --from=deps /opt/venv /opt/venv" in text
    # The chart's security context expects this very user.
    uid = VALUES["podSecurityContext"]["runAsUser"]
    assert f"USER {uid}:{uid}" in text
    assert re.search(rf"useradd --system --uid {uid}\b", text)


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_image_installs_the_pinned_requirements_and_the_shared_library(folder):
    text = dockerfile(folder)
    assert (REPO / folder / "requirements.txt").is_file()
    assert f"COPY {folder}/requirements.txt /build/requirements.txt" in text
    assert "COPY libs/ticketing_shared /build/libs/ticketing_shared" in text
    assert "pip install /build/libs/ticketing_shared -r /build/requirements.txt" in text
    assert f"COPY {folder}/ ./" in text


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_image_serves_with_gunicorn_on_the_port_the_chart_probes(folder):
    text = dockerfile(folder)
    port = VALUES["web"]["containerPort"]
    assert f"EXPOSE {port}" in text
    assert f'CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:{port}"' in text


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_build_context_is_kept_to_what_the_image_needs(folder):
    ignore = (REPO / folder / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line for line in ignore if line and not line.startswith("#")]
    assert patterns[0] == "*"
    assert {"!libs/ticketing_shared/", f"!{folder}/"} <= set(patterns)
    assert {"**/tests/", "**/__pycache__/", "**/staticfiles/"} <= set(patterns)


@pytest.mark.parametrize("folder", FOLDERS)
def test_production_settings_load_with_the_build_time_placeholders(folder, tmp_path):
    """collectstatic runs at build time with DJANGO_DEBUG=0: the placeholders in the
    Dockerfile must satisfy every setting the service requires in production."""
    if not (REPO / folder / "manage.py").exists():
        pytest.skip(f"{folder} has no Django project yet")
    settings = collectstatic_env(dockerfile(folder))
    assert settings["DJANGO_DEBUG"] == "0"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1", **settings}
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--dry-run"],
        cwd=REPO / folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "static files copied" in result.stdout
