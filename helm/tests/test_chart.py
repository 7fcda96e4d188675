"""The chart as a whole: it lints, renders and every object is valid Kubernetes."""

from __future__ import annotations

import kubernetes_validate
import pytest

from .chart import CHART, FAST, run_helm

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest known.
KUBERNETES_VERSIONS = ["1.25.0", kubernetes_validate.latest_version()]
EXAMPLES = sorted((CHART / "examples").glob("*.yaml"))


def test_chart_declares_the_oldest_kubernetes_it_is_checked_against(helm):
    result = run_helm(helm, "show", "chart", str(CHART))
    assert result.returncode == 0, result.stderr
    assert 'kubeVersion: ">=1.25.0-0"' in result.stdout or "kubeVersion: '>=1.25.0-0'" in result.stdout


@pytest.mark.parametrize("values", [None, *EXAMPLES], ids=lambda v: v.name if v else "defaults")
def test_helm_lint_passes_strictly(helm, values):
    args = ["lint", "--strict", str(CHART), *FAST]
    if values:
        args += ["-f", str(values)]
    result = run_helm(helm, *args)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_matches_the_kubernetes_schema(any_values, version):
    errors = []
    for obj in any_values.objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{obj['kind']} {obj['metadata']['name']}: {error.message}")
    assert not errors, "\n".join(errors)


def test_schema_validation_catches_a_wrong_field(default):
    """The check above would fail on a typo: prove it on a copy of a real Deployment."""
    deployment = default.of_kind("Deployment")[0]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_every_object_carries_the_standard_labels(any_values):
    for obj in any_values.objects:
        labels = obj["metadata"].get("labels", {})
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/component",
            "app.kubernetes.io/managed-by",
            "helm.sh/chart",
        ):
            assert key in labels, f"{obj['kind']} {obj['metadata']['name']} lacks {key}"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "postgresql.enabled=false"], "externalDatabase.host"),
        (["--set", "kafka.enabled=false"], "externalKafka.bootstrapServers"),
        (["--set", "redis.enabled=false"], "externalRedis.host"),
        (
            ["--set", "postgresql.enabled=false", "--set", "externalDatabase.host=db.example.com"],
            "externalDatabase.passwords.auth",
        ),
        (
            ["--set", "kafka.enabled=false", "--set", "externalKafka.bootstrapServers=k:9093"],
            "externalKafka.sasl.username",
        ),
    ],
    ids=["database-host", "kafka-servers", "redis-host", "database-passwords", "kafka-sasl-user"],
)
def test_switching_infrastructure_off_requires_the_external_one(helm, values, message):
    result = run_helm(helm, "template", "shop", str(CHART), *FAST, *values)
    assert result.returncode != 0
    assert message in result.stderr


def test_install_notes_say_where_the_site_is_and_how_to_make_an_operator(helm):
    result = run_helm(helm, "install", "shop", str(CHART), "--dry-run=client", "--namespace", "shop", *FAST)
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "http://ticketing.local/" in notes
    assert "exec deploy/shop-ticketing-auth-web" in notes
    assert "OPERATOR_EMAIL=" in notes and "OPERATOR_PASSWORD=" in notes and "manage.py ensure_operator" in notes
    assert "manage.py make_staff" in notes
    assert "TEST MODE: payments go to a Stripe test double" in notes


def test_install_notes_drop_the_warnings_that_do_not_apply(helm):
    result = run_helm(
        helm,
        "install",
        "shop",
        str(CHART),
        "--dry-run=client",
        "--namespace",
        "shop",
        *FAST,
        "-f",
        str(CHART / "examples" / "external-infra.yaml"),
    )
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "https://tickets.example.com/" in notes
    assert "TEST MODE" not in notes
    assert "single-node" not in notes
