"""The GitHub Actions workflows: all of them valid, the chart and image ones doing their job."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from .chart import CHART, REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
SERVICES = {
    "auth": "auth_service",
    "tickets": "tickets_service",
    "orders": "orders_service",
    "payments": "payments_service",
    "expiration": "expiration_service",
    "web-client": "web_client",
}


def check_workflows(*paths) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load(name: str) -> dict:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def test_every_workflow_matches_the_github_schema():
    assert {"chart.yml", "images.yml"} <= {path.name for path in WORKFLOWS}
    result = check_workflows(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    steps:\n      - run: true\n")  # no runs-on
    result = check_workflows(broken)
    assert result.returncode != 0
    assert "runs-on" in result.stdout + result.stderr


def test_the_chart_workflow_runs_the_chart_suite_when_the_chart_changes():
    workflow = load("chart.yml")
    for event in ("push", "pull_request"):
        assert "helm/**" in workflow["on"][event]["paths"]
        assert ".github/workflows/**" in workflow["on"][event]["paths"]
    runs = [step.get("run") for job in workflow["jobs"].values() for step in job["steps"]]
    assert "make test-helm" in runs


def test_the_images_workflow_builds_and_pushes_every_service_to_ghcr():
    workflow = load("images.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    (job,) = workflow["jobs"].values()
    matrix = {entry["service"]: entry["folder"] for entry in job["strategy"]["matrix"]["include"]}
    assert matrix == SERVICES
    steps = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    build = steps["docker/build-push-action"]["with"]
    assert build["context"] == "."
    assert build["file"] == "${{ matrix.folder }}/Dockerfile"
    assert build["push"] == "${{ github.event_name != 'pull_request' }}"
    assert steps["docker/login-action"]["with"]["registry"] == "ghcr.io"
    assert steps["docker/metadata-action"]["with"]["images"] == "ghcr.io/${{ github.repository }}/${{ matrix.service }}"
    assert job.get("permissions", workflow.get("permissions"))["packages"] == "write"


@pytest.mark.parametrize(("service", "folder"), SERVICES.items())
def test_the_published_image_names_are_the_ones_the_chart_pulls(service, folder):
    """images.yml pushes <registry>/<repo>/<service>; the chart pulls <image.repository>/<service>."""
    assert (REPO / folder / "Dockerfile").is_file()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    key = "webClient" if service == "web-client" else service
    assert values[key]["image"]["repository"] == ""  # defaults to <image.repository>/<service>
    assert values["image"]["registry"] == "ghcr.io"
