"""The one Dockerfile of every image, read (no Docker engine here) and its build-time settings tried."""

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
DOCKERFILE = (REPO / "Dockerfile").read_text()


def stage(name: str) -> str:
    """The text of one build stage, from its FROM to the next."""
    match = re.search(rf"^FROM \S+ AS {name}$(.*?)(?=^FROM |\Z)", DOCKERFILE, re.MULTILINE | re.DOTALL)
    assert match, f"no stage {name}"
    return match.group(1)


def collectstatic_env() -> dict[str, str]:
    """The placeholder settings the Dockerfile gives `manage.py collectstatic`."""
    match = re.search(r"RUN ((?:[A-Z_]+=\S+ \\\n\s*)+)python manage.py collectstatic", DOCKERFILE)
    assert match, "no RUN <settings> python manage.py collectstatic"
    return dict(word.split("=", 1) for word in shlex.split(match.group(1).replace("\\\n", " ")))


def test_one_dockerfile_builds_every_image():
    """No copies: the service folders have no Dockerfile of their own."""
    assert not list(REPO.glob("*/Dockerfile")), "a service folder has its own Dockerfile again"
    assert "ARG PYTHON_IMAGE=python:3.11-slim\n" in DOCKERFILE
    stages = re.findall(r"^FROM (\S+) AS ([\w-]+)$", DOCKERFILE, re.MULTILINE)
    assert stages == [
        ("${PYTHON_IMAGE}", "base"),
        ("${PYTHON_IMAGE}", "deps"),
        ("base", "stripe-double"),
        ("base", "service"),
    ]
    # A plain `docker build --build-arg SERVICE=...` builds the last stage: a service.
    assert stages[-1][1] == "service"


def test_a_build_without_service_stops_with_what_to_set():
    assert 'test -n "${SERVICE}" || { echo "Set the service folder: --build-arg SERVICE=' in stage("deps")


def test_every_image_runs_as_the_user_the_chart_expects():
    uid = VALUES["podSecurityContext"]["runAsUser"]
    assert re.search(rf"useradd --system --uid {uid}\b", stage("base"))
    for name in ("stripe-double", "service"):
        assert f"USER {uid}:{uid}" in stage(name)


def test_a_service_installs_its_pinned_requirements_and_the_shared_library():
    deps = stage("deps")
    assert "COPY ${SERVICE}/requirements.txt /build/requirements.txt" in deps
    assert "COPY libs/ticketing_shared /build/libs/ticketing_shared" in deps
    assert "pip install /build/libs/ticketing_shared -r /build/requirements.txt" in deps
    service = stage("service")
    assert "COPY --from=deps /opt/venv /opt/venv" in service
    assert "COPY ${SERVICE}/ ./" in service
    for folder in FOLDERS:
        assert (REPO / folder / "requirements.txt").is_file()


def test_a_service_serves_with_gunicorn_on_the_port_the_chart_probes():
    service = stage("service")
    port = VALUES["web"]["containerPort"]
    assert f"EXPOSE {port}" in service
    assert f'CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:{port}"' in service
    # Two workers: the shared hooks and a metrics folder keep /metrics right across them.
    assert '"--config", "python:ticketing_shared.gunicorn_conf"' in service
    assert '"--env", "PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus"' in service


def test_the_stripe_double_is_the_localstripe_of_the_local_stack():
    double = stage("stripe-double")
    assert "COPY docker/stripe-double-requirements.txt /build/requirements.txt" in double
    pins = {
        line
        for line in (REPO / "docker" / "stripe-double-requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    run = set((REPO / "requirements.txt").read_text().splitlines())
    assert pins == {next(line for line in run if line.startswith("localstripe=="))}
    assert f"EXPOSE {VALUES['stripeDouble']['port']}" in double
    assert f'CMD ["localstripe", "--port", "{VALUES["stripeDouble"]["port"]}"]' in double


def test_the_build_context_is_kept_to_what_the_images_need():
    ignore = (REPO / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line for line in ignore if line and not line.startswith("#")]
    assert patterns[0] == "*"
    assert {"!libs/ticketing_shared/", "!docker/", *(f"!{folder}/" for folder in FOLDERS)} <= set(patterns)
    assert {"**/tests/", "**/__pycache__/", "**/staticfiles/", "**/.env", "**/*.pem"} <= set(patterns)


def test_make_images_builds_every_image_with_the_chart_s_names_and_version():
    result = subprocess.run(
        ["make", "-n", "images", "REGISTRY=registry.example.com", "IMAGE_REPOSITORY=acme/shop"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert f"-t registry.example.com/acme/shop/$name:{version} ." in result.stdout
    images = re.search(r"for image in ([^;]+);", result.stdout).group(1).split()
    names = ["auth", "tickets", "orders", "payments", "expiration", "web-client"]
    assert images == [*(f"{name}:{folder}" for name, folder in zip(names, FOLDERS, strict=True)), "stripe-double:"]
    assert "stripe-double:" in result.stdout and "--target $name" in result.stdout


def test_make_push_refuses_without_a_registry():
    result = subprocess.run(["make", "push"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "make push needs REGISTRY=<registry>" in result.stdout + result.stderr


@pytest.mark.parametrize("folder", FOLDERS)
def test_production_settings_load_with_the_build_time_placeholders(folder, tmp_path):
    """collectstatic runs at build time with DJANGO_DEBUG=0: the placeholders in the
    Dockerfile must satisfy every setting each service requires in production."""
    settings = collectstatic_env()
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
