"""The GitHub Actions workflows: all of them valid, the chart and image ones doing their job."""

from __future__ import annotations

import subprocess
import sys

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


def image_jobs_matrix(job: dict) -> dict[str, tuple[str, str]]:
    return {entry["image"]: (entry["folder"], entry["target"]) for entry in job["strategy"]["matrix"]["include"]}


IMAGES = {**{image: (folder, "service") for image, folder in SERVICES.items()}, "stripe-double": ("", "stripe-double")}


def build_step(job: dict) -> dict:
    steps = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    return steps["docker/build-push-action"]["with"]


def test_the_images_workflow_builds_every_image_from_the_one_dockerfile():
    workflow = load("images.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    (job,) = workflow["jobs"].values()
    assert image_jobs_matrix(job) == IMAGES
    build = build_step(job)
    assert build["context"] == "."
    assert build["file"] == "Dockerfile"
    assert build["target"] == "${{ matrix.target }}"
    assert build["build-args"] == "SERVICE=${{ matrix.folder }}"
    assert build["push"] == "${{ github.event_name != 'pull_request' }}"
    steps = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert steps["docker/login-action"]["with"]["registry"] == "ghcr.io"
    assert steps["docker/metadata-action"]["with"]["images"] == "ghcr.io/${{ github.repository }}/${{ matrix.image }}"
    assert job.get("permissions", workflow.get("permissions"))["packages"] == "write"


def test_the_release_pushes_every_image_with_the_version_and_the_chart_as_oci():
    workflow = load("release.yml")
    assert workflow["on"] == {"push": {"tags": ["v*"]}}
    jobs = workflow["jobs"]
    check = jobs["version"]["steps"][-1]["run"]
    assert "helm/Chart.yaml" in check and "appVersion" in check and "exit 1" in check
    assert image_jobs_matrix(jobs["images"]) == IMAGES
    build = build_step(jobs["images"])
    assert build["push"] is True and build["file"] == "Dockerfile"
    meta = next(s for s in jobs["images"]["steps"] if s.get("uses", "").startswith("docker/metadata-action"))
    assert meta["with"]["tags"].strip() == "type=raw,value=${{ needs.version.outputs.version }}"
    chart = "\n".join(step.get("run", "") for step in jobs["chart"]["steps"])
    assert jobs["chart"]["needs"] == ["version", "images"]
    assert (
        'helm push "dist/ticketing-${{ needs.version.outputs.version }}.tgz" "oci://ghcr.io/${GITHUB_REPOSITORY,,}/charts"'
        in chart
    )


def test_the_release_s_edits_of_values_find_the_lines_they_change():
    """The release sets image.registry and image.repository by sed: each pattern must match one line."""
    chart = "\n".join(step.get("run", "") for step in load("release.yml")["jobs"]["chart"]["steps"])
    assert 's|^  registry: ""$|  registry: ghcr.io|' in chart
    lines = (CHART / "values.yaml").read_text().splitlines()
    assert lines.count('  registry: ""') == 1
    assert lines.count("  repository: ticketing") == 1
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["image"]["registry"] == "" and values["image"]["repository"] == "ticketing"


def test_the_kind_workflow_installs_the_trial_runs_the_journeys_and_upgrades_without_restarts():
    workflow = load("kind.yml")
    (job,) = workflow["jobs"].values()
    runs = [step.get("run", "") for step in job["steps"]]
    uses = [step.get("uses", "").split("@")[0] for step in job["steps"]]
    assert "helm/kind-action" in uses
    kind = next(s for s in job["steps"] if s.get("uses", "").startswith("helm/kind-action"))
    assert (REPO / kind["with"]["config"]).is_file()
    # The same make targets a person runs.
    assert any(run.startswith("make images kind-load") for run in runs)
    install = next(run for run in runs if "helm upgrade --install" in run)
    assert "-f helm/examples/kind.yaml" in install and "--wait" in install
    assert any("rollout status" in run for run in runs)
    journeys = next(s for s in job["steps"] if "pytest" in s.get("run", ""))
    assert journeys["env"]["E2E_ORDERS_URL"] == "http://localhost"
    for test in ("test_auth_journey.py", "test_reservation_journey.py", "test_purchase_journey.py"):
        assert test in journeys["run"] and (REPO / "e2e" / test).is_file()
    upgrade = runs.index(next(run for run in runs if "--reuse-values" in run))
    before = next(i for i, run in enumerate(runs) if "pods-before" in run)
    after = next(i for i, run in enumerate(runs) if "diff -u /tmp/pods-before /tmp/pods-after" in run)
    assert before < upgrade < after


def test_the_kind_values_use_the_images_make_kind_load_puts_on_the_node():
    values = yaml.safe_load((CHART / "examples" / "kind.yaml").read_text())
    assert values["image"] == {"registry": "localhost", "repository": "ticketing", "pullPolicy": "Never"}
