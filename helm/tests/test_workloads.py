"""The services' pods: which run, what they run, how they are probed, limited and secured."""

from __future__ import annotations

import json

import pytest

from .chart import BACKENDS, EVENT_SERVICES, FAST, PREFIX, env_of, pod_spec

PROCESSES = ("web", "consumer", "worker", "beat")
EXPECTED_DEPLOYMENTS = {
    f"{PREFIX}-auth-web",
    *(f"{PREFIX}-{service}-{process}" for service in EVENT_SERVICES for process in PROCESSES),
    f"{PREFIX}-web-client",
}
WEB_DEPLOYMENTS = [*sorted(f"{PREFIX}-{service}-web" for service in BACKENDS), f"{PREFIX}-web-client"]


def service_of(name: str) -> str:
    """shop-ticketing-orders-consumer -> orders; shop-ticketing-web-client -> web-client."""
    rest = name.removeprefix(f"{PREFIX}-")
    return "web-client" if rest == "web-client" else rest.split("-")[0]


def all_containers(workload):
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def service_workloads(manifests):
    """Deployments and Jobs of the services (the in-chart infrastructure is checked elsewhere)."""
    return manifests.of_kind("Deployment") + manifests.of_kind("Job")


def test_every_process_of_every_service_is_deployed(any_values, request):
    double = {f"{PREFIX}-stripe-double"} if "default" in request.node.name else set()
    assert any_values.names("Deployment") == EXPECTED_DEPLOYMENTS | double


def test_auth_and_web_client_run_web_only_by_default(default):
    auth = {name for name in default.names("Deployment") if service_of(name) == "auth"}
    client = {name for name in default.names("Deployment") if service_of(name) == "web-client"}
    assert auth == {f"{PREFIX}-auth-web"}
    assert client == {f"{PREFIX}-web-client"}


@pytest.mark.parametrize("name", WEB_DEPLOYMENTS)
def test_web_pods_serve_http_with_health_probes(any_values, name):
    (container,) = pod_spec(any_values.get("Deployment", name))["containers"]
    assert container["command"] == ["gunicorn"]
    assert container["args"][0] == "config.wsgi:application"
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in container["ports"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_every_deployment_that_serves_http_has_probes(any_values):
    for deployment in any_values.of_kind("Deployment"):
        for container in pod_spec(deployment)["containers"]:
            if container.get("ports"):
                name = deployment["metadata"]["name"]
                assert "livenessProbe" in container, name
                assert "readinessProbe" in container, name


def test_background_processes_run_from_the_service_image(default):
    for service in EVENT_SERVICES:
        web = pod_spec(default.get("Deployment", f"{PREFIX}-{service}-web"))["containers"][0]
        commands = {}
        for process in ("consumer", "worker", "beat"):
            (container,) = pod_spec(default.get("Deployment", f"{PREFIX}-{service}-{process}"))["containers"]
            assert container["image"] == web["image"]
            assert "ports" not in container
            commands[process] = container["command"] + container.get("args", [])
        assert commands["consumer"] == ["python", "manage.py", "consume_events"]
        assert commands["worker"][:4] == ["celery", "-A", "config", "worker"]
        assert commands["beat"][:4] == ["celery", "-A", "config", "beat"]
        # The app's own scheduler (django-celery-beat's, with a heartbeat): no --scheduler.
        assert not [arg for arg in commands["beat"] if arg.startswith("--scheduler")]
        # The image's working directory is read-only: no pid file.
        assert "--pidfile=" in commands["beat"]


@pytest.mark.parametrize("process", ["consumer", "worker", "beat"])
def test_background_processes_are_probed_by_their_heartbeat(any_values, process):
    for service in EVENT_SERVICES:
        (container,) = pod_spec(any_values.get("Deployment", f"{PREFIX}-{service}-{process}"))["containers"]
        check = ["python", "manage.py", "healthcheck", process, "--max-age=60"]
        liveness, startup = container["livenessProbe"], container["startupProbe"]
        assert liveness["exec"]["command"] == startup["exec"]["command"] == check
        # Each run starts Django: probed seldom, with time to answer.
        assert liveness["periodSeconds"] >= 30
        assert liveness["timeoutSeconds"] >= 10
        assert liveness["failureThreshold"] >= 3
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
        # The heartbeat goes to the writable /tmp emptyDir (the root filesystem is read-only).
        config = any_values.get("ConfigMap", f"{PREFIX}-{service}")["data"]
        assert config["HEARTBEAT_DIR"].startswith("/tmp/")
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_heartbeat_probes_can_be_tuned_and_switched_off_per_process(render):
    manifests = render(
        *FAST,
        "--set",
        "background.maxHeartbeatAgeSeconds=90",
        "--set",
        "background.heartbeatDir=/tmp/beats",
        "--set-json",
        'orders.worker.livenessProbe={"enabled": true, "periodSeconds": 60, "timeoutSeconds": 20}',
        "--set",
        "tickets.beat.startupProbe.enabled=false",
    )

    def container(name):
        return pod_spec(manifests.get("Deployment", f"{PREFIX}-{name}"))["containers"][0]

    assert container("orders-worker")["livenessProbe"] == {
        "exec": {"command": ["python", "manage.py", "healthcheck", "worker", "--max-age=90"]},
        "periodSeconds": 60,
        "timeoutSeconds": 20,
    }
    assert container("orders-consumer")["livenessProbe"]["periodSeconds"] == 30
    assert "startupProbe" not in container("tickets-beat")
    assert container("tickets-beat")["livenessProbe"]["exec"]["command"][-1] == "--max-age=90"
    assert manifests.get("ConfigMap", f"{PREFIX}-orders")["data"]["HEARTBEAT_DIR"] == "/tmp/beats"


def test_beat_is_a_single_replica_that_never_overlaps(any_values):
    for service in EVENT_SERVICES:
        beat = any_values.get("Deployment", f"{PREFIX}-{service}-beat")
        assert beat["spec"]["replicas"] == 1
        assert beat["spec"]["strategy"] == {"type": "Recreate"}


def test_beat_stays_single_and_has_no_replica_count_to_set(render, template):
    assert render(*FAST).get("Deployment", f"{PREFIX}-tickets-beat")["spec"]["replicas"] == 1
    result = template(*FAST, "--set", "tickets.beat.replicaCount=3")
    assert result.returncode != 0
    assert "additional properties 'replicaCount' not allowed" in result.stderr


def test_every_container_has_requests_and_limits(any_values):
    for workload in [*service_workloads(any_values), *any_values.of_kind("StatefulSet")]:
        for container in all_containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where} lacks {bound}"


def test_service_pods_run_as_non_root_on_a_read_only_root(any_values):
    for workload in service_workloads(any_values):
        spec = pod_spec(workload)
        name = workload["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        tmp = [v for v in spec["volumes"] if v["name"] == "tmp"]
        assert tmp == [{"name": "tmp", "emptyDir": {}}], name
        for container in all_containers(workload):
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name


def test_infrastructure_pods_run_as_non_root(default):
    for statefulset in default.of_kind("StatefulSet"):
        spec = pod_spec(statefulset)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        for container in spec["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


@pytest.mark.parametrize("service", BACKENDS)
def test_every_pod_of_a_service_waits_for_its_migrations(any_values, service):
    job = any_values.get("Job", f"{PREFIX}-{service}-migrate-1")
    (migrate,) = pod_spec(job)["containers"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    database_url = env_of(migrate)["DATABASE_URL"]["value"]
    # A plain resource, not a hook: a pre-install hook would run before the in-chart
    # database exists and deadlock the install.
    assert not any(key.startswith("helm.sh/hook") for key in job["metadata"].get("annotations", {}))
    deployments = [d for d in any_values.of_kind("Deployment") if service_of(d["metadata"]["name"]) == service]
    assert deployments
    for deployment in deployments:
        spec = pod_spec(deployment)
        (wait,) = [c for c in spec.get("initContainers", []) if c["name"] == "wait-for-migrations"]
        script = " ".join(wait["command"] + wait["args"])
        assert "python manage.py migrate --check" in script
        assert wait["image"] == migrate["image"] == spec["containers"][0]["image"]
        # The same database as the Job migrates, so the wait is for the right schema.
        assert env_of(wait)["DATABASE_URL"]["value"] == database_url
        assert env_of(spec["containers"][0])["DATABASE_URL"]["value"] == database_url


def test_the_migration_job_waits_for_the_database_rather_than_failing(default):
    job = default.get("Job", f"{PREFIX}-orders-migrate-1")
    (wait,) = pod_spec(job)["initContainers"]
    assert "connection.ensure_connection()" in wait["args"][0]
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] > 0


def test_the_web_client_has_no_database_and_no_migrations(any_values):
    client = pod_spec(any_values.get("Deployment", f"{PREFIX}-web-client"))
    assert "initContainers" not in client
    assert "DATABASE_URL" not in env_of(client["containers"][0])
    assert not [job for job in any_values.names("Job") if "web-client" in job]


@pytest.mark.parametrize("name", WEB_DEPLOYMENTS)
def test_web_pods_are_annotated_for_prometheus(any_values, name):
    deployment = any_values.get("Deployment", name)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    (port,) = [p["containerPort"] for p in pod_spec(deployment)["containers"][0]["ports"] if p["name"] == "metrics"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == str(port)
    # gunicorn runs several workers: prometheus_client aggregates them through files.
    container = pod_spec(deployment)["containers"][0]
    assert env_of(container)["PROMETHEUS_MULTIPROC_DIR"]["value"] == "/var/run/prometheus"
    assert {"name": "prometheus", "mountPath": "/var/run/prometheus"} in container["volumeMounts"]


def test_each_service_routes_to_its_web_pods_only(any_values):
    for service in any_values.of_kind("Service"):
        if service["spec"].get("clusterIP") == "None":
            continue
        selector = service["spec"]["selector"]
        targets = [
            w["metadata"]["name"]
            for w in any_values.of_kind("Deployment") + any_values.of_kind("StatefulSet")
            if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(targets) == 1, f"{service['metadata']['name']} selects {targets}"
        if targets[0] in WEB_DEPLOYMENTS:
            assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]


def test_web_deployments_get_disruption_budgets_and_optional_autoscalers(default, render):
    assert {
        p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in default.of_kind("PodDisruptionBudget")
    } == {"auth-web", "tickets-web", "orders-web", "payments-web", "expiration-web", "web-client"}
    assert default.of_kind("HorizontalPodAutoscaler") == []

    toggled = render(*FAST, "--set", "tickets.web.autoscaling.enabled=true", "--set", "tickets.web.pdb.create=false")
    (hpa,) = toggled.of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{PREFIX}-tickets-web",
    }
    assert "replicas" not in toggled.get("Deployment", f"{PREFIX}-tickets-web")["spec"]
    assert f"{PREFIX}-tickets-web" not in toggled.names("PodDisruptionBudget")
    assert f"{PREFIX}-orders-web" in toggled.names("PodDisruptionBudget")


def test_disruption_budgets_take_min_available_when_given(external):
    budget = external.get("PodDisruptionBudget", f"{PREFIX}-orders-web")["spec"]
    assert budget["minAvailable"] == 1
    assert "maxUnavailable" not in budget


def test_a_service_can_scale_and_switch_processes_alone(render):
    manifests = render(
        *FAST,
        "--set",
        "orders.worker.replicaCount=3",
        "--set",
        "expiration.beat.enabled=false",
        "--set",
        "auth.worker.enabled=true",
    )
    assert manifests.get("Deployment", f"{PREFIX}-orders-worker")["spec"]["replicas"] == 3
    assert manifests.get("Deployment", f"{PREFIX}-tickets-worker")["spec"]["replicas"] == 1
    assert f"{PREFIX}-expiration-beat" not in manifests.names("Deployment")
    assert f"{PREFIX}-auth-worker" in manifests.names("Deployment")


def test_extra_env_vars_reach_the_right_containers(render):
    manifests = render(
        *FAST,
        "--set-json",
        'config.extraEnvVars=[{"name": "EVERYWHERE", "value": "1"}]',
        "--set-json",
        'orders.extraEnvVars=[{"name": "ORDERS_ONLY", "value": "2"}]',
        "--set-json",
        'orders.consumer.extraEnvVars=[{"name": "KAFKA_FETCH_WAIT_MAX_MS", "value": "{{ 2 | add 3 }}"}]',
    )
    for deployment in manifests.of_kind("Deployment"):
        if deployment["metadata"]["name"].endswith("stripe-double"):
            continue  # not a service: no service settings
        name = deployment["metadata"]["name"]
        env = env_of(pod_spec(deployment)["containers"][0])
        assert env["EVERYWHERE"]["value"] == "1", name
        assert ("ORDERS_ONLY" in env) == (service_of(name) == "orders"), name
        assert ("KAFKA_FETCH_WAIT_MAX_MS" in env) == (name == f"{PREFIX}-orders-consumer"), name
    consumer = env_of(pod_spec(manifests.get("Deployment", f"{PREFIX}-orders-consumer"))["containers"][0])
    assert consumer["KAFKA_FETCH_WAIT_MAX_MS"]["value"] == "5"  # values are templates


def test_images_follow_the_published_names(render):
    manifests = render(
        *FAST, "--set", "image.registry=ghcr.io", "--set", "image.repository=acme/shop", "--set", "image.tag=1.2.3",
        "--set", "payments.image.tag=1.2.4",
    )
    images = {d["metadata"]["name"]: pod_spec(d)["containers"][0]["image"] for d in manifests.of_kind("Deployment")}
    assert images[f"{PREFIX}-auth-web"] == "ghcr.io/acme/shop/auth:1.2.3"
    assert images[f"{PREFIX}-web-client"] == "ghcr.io/acme/shop/web-client:1.2.3"
    assert images[f"{PREFIX}-payments-worker"] == "ghcr.io/acme/shop/payments:1.2.4"
    assert images[f"{PREFIX}-stripe-double"] == "ghcr.io/acme/shop/stripe-double:1.2.3"
    digest = "sha256:" + "a" * 64
    pinned = render(*FAST, "--set", f"image.digest={digest}")
    assert json.dumps(pinned.objects).count(f"@{digest}") >= len(EXPECTED_DEPLOYMENTS)
