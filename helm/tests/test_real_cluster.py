"""What a real cluster needs of the chart: images it can pull, a trial without Stripe keys,
values checked by the schema, a locked-down Kafka and network, probes everywhere and
upgrades that restart nothing."""

from __future__ import annotations

import ast
import json
import re

import kubernetes_validate
import pytest
import yaml

from .chart import BACKENDS, CHART, EVENT_SERVICES, FAST, PREFIX, REAL_STRIPE, REPO, env_of, pod_spec

SCHEMAS = (REPO / "libs" / "ticketing_shared" / "ticketing_shared" / "events" / "schemas.py").read_text()
METRICS = (REPO / "libs" / "ticketing_shared" / "ticketing_shared" / "metrics.py").read_text()
HANDLERS = {
    "tickets": "tickets_service/tickets/handlers.py",
    "orders": "orders_service/orders/handlers.py",
    "payments": "payments_service/payments/handlers.py",
    "expiration": "expiration_service/expirations/handlers.py",
}


def event_classes() -> dict[str, tuple[str, str]]:
    """Schema class -> (topic, owning service), read from the event contract (a subclass
    inherits its base's source)."""
    fields: dict[str, dict[str, str]] = {}
    for node in ast.parse(SCHEMAS).body:
        if not isinstance(node, ast.ClassDef):
            continue
        own = {
            target.id: stmt.value.value
            for stmt in node.body
            if isinstance(stmt, ast.Assign)
            for target in stmt.targets
            if isinstance(target, ast.Name)
            and target.id in ("topic", "source")
            and isinstance(stmt.value, ast.Constant)
        }
        inherited = next(
            (fields[base.id] for base in node.bases if isinstance(base, ast.Name) and base.id in fields), {}
        )
        fields[node.name] = {**inherited, **own}
    classes = {name: (f["topic"], f["source"]) for name, f in fields.items() if "topic" in f and "source" in f}
    assert len(classes) >= 8, classes
    return classes


def config_of(manifests, service: str) -> dict[str, str]:
    return manifests.get("ConfigMap", f"{PREFIX}-{service}")["data"]


def containers(workload) -> list[dict]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


# ---------- Images ----------


def test_without_a_registry_the_chart_refuses_and_says_what_to_set(template):
    result = template("--set", "jwt.existingSecret=x")
    assert result.returncode != 0
    assert "image.registry is not set" in result.stderr
    assert "--set image.registry=ghcr.io --set image.repository=<owner>/<repo>" in result.stderr
    assert "%!s(<nil>)" not in result.stderr


@pytest.mark.parametrize("values", [["--set", "image.registry=ghcr.io"], ["--set", "global.imageRegistry=ghcr.io"]])
def test_a_registry_set_either_way_names_every_image_with_the_app_version(template, values):
    result = template("--set", "jwt.existingSecret=x", *values)
    assert result.returncode == 0, result.stderr
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    images = set(re.findall(r"image: (ghcr\.io/ticketing/[\w-]+:\S+)", result.stdout))
    names = {"auth", "tickets", "orders", "payments", "expiration", "web-client", "stripe-double"}
    assert images == {f"ghcr.io/ticketing/{name}:{version}" for name in names}


# ---------- The trial's Stripe test double ----------


def test_the_trial_runs_the_stripe_test_double_and_points_payments_and_the_storefront_at_it(default):
    double = default.get("Deployment", f"{PREFIX}-stripe-double")
    assert double["metadata"]["labels"]["ticketing.io/test-double"] == "true"
    assert "TEST DOUBLE" in double["metadata"]["annotations"]["ticketing.io/description"]
    (container,) = pod_spec(double)["containers"]
    assert container["image"].endswith("/ticketing/stripe-double:0.1.0")
    assert "exec localstripe --port 8420" in container["args"][0]
    # It signs the webhooks it sends payments with the release's webhook secret.
    env = env_of(container)
    assert env["WEBHOOK_URL"]["value"] == f"http://{PREFIX}-payments/api/payments/webhook"
    assert env["STRIPE_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{PREFIX}-stripe",
        "key": "webhook-secret",
    }
    assert default.get("Service", f"{PREFIX}-stripe-double")["spec"]["ports"][0]["port"] == 8420
    assert config_of(default, "payments")["STRIPE_API_BASE"] == f"http://{PREFIX}-stripe-double:8420"
    client = config_of(default, "web-client")
    assert client["STRIPE_TEST_MODE"] == "1"
    assert client["STRIPE_JS_URL"] == "/js.stripe.com/v3/"
    secrets = default.secret_values()
    assert secrets[f"{PREFIX}-stripe/secret-key"].startswith("sk_test_")
    assert secrets[f"{PREFIX}-stripe/publishable-key"].startswith("pk_test_")
    assert len(secrets[f"{PREFIX}-stripe/webhook-secret"]) >= 32


def test_production_values_run_no_double_and_require_the_keys(render, template):
    result = template(*FAST, "--set", "stripeDouble.enabled=false")
    assert result.returncode != 0
    assert "/stripe" in result.stderr  # the schema names the block that lacks the keys
    manifests = render(*FAST, *REAL_STRIPE)
    assert f"{PREFIX}-stripe-double" not in manifests.names("Deployment")
    assert config_of(manifests, "web-client")["STRIPE_TEST_MODE"] == "0"
    with_secret = ["--set", "stripeDouble.enabled=false", "--set", "stripe.existingSecret=s"]
    assert render(*FAST, *with_secret, "--set", "email.host=smtp.example.com").names("Deployment")


def test_the_schema_refuses_keys_that_are_not_stripe_keys(template):
    result = template(
        *FAST,
        "--set",
        "stripeDouble.enabled=false",
        "--set",
        "stripe.secretKey=hunter2",
        "--set",
        "stripe.webhookSecret=whsec_x",
        "--set",
        "stripe.publishableKey=pk_test_x",
    )
    assert result.returncode != 0
    assert "/stripe/secretKey" in result.stderr


# ---------- Values: schema and contradictions ----------


@pytest.mark.parametrize("typo", ["ingres.enabled=false", "tickets.web.replicas=3", "kafka.sasl.mechanizm=PLAIN"])
def test_the_schema_rejects_a_typo(template, typo):
    result = template(*FAST, "--set", typo)
    assert result.returncode != 0
    wrong = next(part for part in re.split(r"[.=]", typo) if part in ("ingres", "replicas", "mechanizm"))
    assert f"additional properties '{wrong}' not allowed" in result.stderr


def test_the_schema_rejects_a_wrong_type_and_an_unknown_choice(template):
    assert "want integer" in template(*FAST, "--set", "orders.web.replicaCount=two").stderr
    assert "SCRAM" in template(*FAST, "--set", "kafka.sasl.mechanism=PLAIN").stderr


def test_every_value_has_a_schema():
    """Each key of values.yaml is declared: a schema that allowed anything would check nothing."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def resolve(node):
        while "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
        return node

    def walk(value, node, path):
        node = resolve(node)
        if isinstance(value, dict) and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
            for key, item in value.items():
                assert key in node["properties"], f"{path}.{key} has no schema"
                walk(item, node["properties"][key], f"{path}.{key}")

    walk(values, schema, "values")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "stripe.secretKey=sk_test_x"], "stripeDouble.enabled is true but Stripe keys are set"),
        (["--set", "stripe.apiBase=http://x"], "stripe.apiBase is set while stripeDouble.enabled is true"),
        (["--set", "externalDatabase.host=db"], "set postgresql.enabled=false to use the external database"),
        (["--set", "externalRedis.host=r"], "set redis.enabled=false"),
        (["--set", "externalKafka.bootstrapServers=k:9092"], "set kafka.enabled=false"),
        (
            ["--set", "ingress.enabled=false", "--set", "ingress.tls=true"],
            "ingress.tls is true while ingress.enabled is false",
        ),
        (
            [
                "--set",
                "orders.web.autoscaling.enabled=true",
                "--set",
                "orders.web.autoscaling.minReplicas=5",
                "--set",
                "orders.web.autoscaling.maxReplicas=2",
            ],
            "orders.web.autoscaling.minReplicas (5) is above maxReplicas (2)",
        ),
        (["--set", "metrics.enabled=false", "--set", "metrics.serviceMonitor.enabled=true"], "needs metrics.enabled"),
    ],
    ids=["double-and-keys", "double-and-api-base", "database", "redis", "kafka", "tls", "autoscaling", "monitor"],
)
def test_contradictory_values_stop_the_render_with_what_to_change(template, values, message):
    result = template(*FAST, *values)
    assert result.returncode != 0
    assert message in result.stderr


# ---------- Kafka: SASL users and ACLs ----------


def setup_script(manifests) -> str:
    return manifests.get("ConfigMap", f"{PREFIX}-kafka-scripts")["data"]["setup-kafka.sh"]


def acls(manifests) -> dict[str, dict[str, set[str]]]:
    """User -> operation -> topics, from the setup Job's kafka-acls.sh lines."""
    granted: dict[str, dict[str, set[str]]] = {}
    for line in setup_script(manifests).splitlines():
        if not line.startswith("acl "):
            continue
        user = re.search(r"--allow-principal User:(\S+)", line).group(1)
        for operation in re.findall(r"--operation (\w+)", line):
            for topic in re.findall(r"--topic (\S+)", line):
                granted.setdefault(user, {}).setdefault(operation, set()).add(topic)
    return granted


def test_the_trial_kafka_speaks_only_sasl_scram_with_an_authorizer(default):
    script = default.get("ConfigMap", f"{PREFIX}-kafka-scripts")["data"]["start-kafka.sh"]
    assert "listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT" in script
    # The plain controller listener is bound to the pod's loopback only.
    assert "listeners=CLIENT://:9092,CONTROLLER://localhost:9093" in script
    assert "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" in script
    assert "allow.everyone.if.no.acl.found=false" in script
    assert '--add-scram "SCRAM-SHA-512=[name=admin,password=${KAFKA_ADMIN_PASSWORD}]"' in script
    assert "PLAINTEXT://:9092" not in script


def test_every_backend_signs_in_to_kafka_as_its_own_user(default):
    users = default.secret_values()
    for service in BACKENDS:
        config = config_of(default, service)
        assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert config["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert config["KAFKA_SASL_USERNAME"] == service
        for workload in [*default.of_kind("Deployment"), *default.of_kind("Job")]:
            labels = workload["spec"]["template"]["metadata"]["labels"]
            if not labels["app.kubernetes.io/component"].startswith(f"{service}-"):
                continue
            for container in containers(workload):
                assert env_of(container)["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
                    "name": f"{PREFIX}-kafka-users",
                    "key": f"{service}-password",
                }
        assert len(users[f"{PREFIX}-kafka-users/{service}-password"]) >= 32
    assert len(users[f"{PREFIX}-kafka-users/admin-password"]) >= 32
    assert "KAFKA_SASL_USERNAME" not in config_of(default, "web-client")


def test_each_service_writes_only_the_topics_it_owns(default):
    granted = acls(default)
    for topic, source in event_classes().values():
        writers = {user for user, ops in granted.items() if topic in ops.get("Write", set())}
        assert writers == {source}, f"{topic} is written by {writers}, owned by {source}"
    for service in EVENT_SERVICES:
        owned = {topic for topic, source in event_classes().values() if source == service}
        assert granted[service]["Write"] == owned | {f"{service}.dlq"}
    assert "auth" not in granted  # it publishes and consumes nothing


def test_each_service_reads_the_topics_it_handles_in_its_own_group(default):
    classes = event_classes()
    granted = acls(default)
    script = setup_script(default)
    for service, path in HANDLERS.items():
        handled = {classes[name][0] for name in re.findall(r"@handles\((\w+)\)", (REPO / path).read_text())}
        assert granted[service]["Read"] == handled, service
        assert f"acl --allow-principal User:{service} --operation Read --operation Describe --group {service}" in script


def test_the_setup_job_sets_every_user_and_runs_each_revision_without_restarting_pods(default):
    (job,) = [j for j in default.of_kind("Job") if "kafka-setup" in j["metadata"]["name"]]
    assert job["spec"]["backoffLimit"] >= 1 and job["spec"]["activeDeadlineSeconds"] > 0
    env = env_of(pod_spec(job)["containers"][0])
    for user in ["admin", *BACKENDS]:
        assert env[f"{user.upper()}_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == f"{user}-password"
    script = setup_script(default)
    for user in BACKENDS:
        assert f"--entity-name {user}" in script and f"[password=${{{user.upper()}_PASSWORD}}]" in script


# ---------- NetworkPolicies ----------


def policy(manifests, name):
    return manifests.get("NetworkPolicy", f"{PREFIX}-{name}")["spec"]


def test_network_policies_deny_by_default_and_open_only_what_the_services_use(default):
    deny = policy(default, "default-deny")
    assert deny["ingress"] == [] and deny["policyTypes"] == ["Ingress"]
    assert deny["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "ticketing",
        "app.kubernetes.io/instance": "shop",
    }
    for name, port, client in (
        ("postgresql", 5432, "database-client"),
        ("redis", 6379, "redis-client"),
        ("kafka", 9092, "kafka-client"),
    ):
        (rule,) = policy(default, name)["ingress"]
        assert rule["ports"] == [{"port": port, "protocol": "TCP"}]
        (peer,) = rule["from"]
        assert peer["podSelector"]["matchLabels"][f"ticketing.io/{client}"] == "true"


def test_only_the_ingress_controller_and_the_release_reach_the_web_pods_and_metrics_is_apart(default):
    for component in ["auth-web", "tickets-web", "orders-web", "payments-web", "expiration-web", "web-client"]:
        site, metrics = policy(default, component)["ingress"]
        assert site["ports"] == [{"port": "http", "protocol": "TCP"}]
        assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}} in site["from"]
        assert metrics["ports"] == [{"port": "metrics", "protocol": "TCP"}]
        assert metrics["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ]


def test_the_pods_carry_the_labels_of_what_they_may_reach(default):
    for workload in [*default.of_kind("Deployment"), *default.of_kind("Job")]:
        labels = workload["spec"]["template"]["metadata"]["labels"]
        component = labels["app.kubernetes.io/component"]
        backend = component.split("-")[0] in BACKENDS
        assert ("ticketing.io/database-client" in labels) == backend, component
        assert ("ticketing.io/kafka-client" in labels) == (backend or component == "kafka-setup"), component
    assert (
        "ticketing.io/redis-client"
        in default.get("Deployment", f"{PREFIX}-web-client")["spec"]["template"]["metadata"]["labels"]
    )
    # Consumers, workers and beat take no connections: only the default deny selects them.
    policies = default.of_kind("NetworkPolicy")
    for name in ("tickets-consumer", "orders-worker", "payments-beat"):
        selecting = [
            p for p in policies if p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == name
        ]
        assert selecting == []


def test_network_policies_can_be_switched_off(render):
    assert render(*FAST, "--set", "networkPolicy.enabled=false").of_kind("NetworkPolicy") == []


# ---------- Probes, disruption budgets, graceful stops ----------


def test_every_process_has_probes_resources_and_runs_as_non_root(default):
    for workload in [*default.of_kind("Deployment"), *default.of_kind("StatefulSet")]:
        name = workload["metadata"]["name"]
        assert pod_spec(workload)["securityContext"]["runAsNonRoot"] is True, name
        for container in pod_spec(workload)["containers"]:
            assert "livenessProbe" in container and ("readinessProbe" in container or "startupProbe" in container), name
            assert container["resources"]["limits"] and container["resources"]["requests"], name
        component = workload["metadata"]["labels"]["app.kubernetes.io/component"]
        process = component.rsplit("-", 1)[-1]
        if process in ("consumer", "worker", "beat"):
            (container,) = pod_spec(workload)["containers"]
            assert container["livenessProbe"]["exec"]["command"][:4] == ["python", "manage.py", "healthcheck", process]


def test_every_multi_replica_workload_has_a_disruption_budget(render):
    manifests = render(*FAST, "-f", str(CHART / "examples" / "external-infra.yaml"))
    budgets = {
        b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for b in manifests.of_kind("PodDisruptionBudget")
    }
    for deployment in manifests.of_kind("Deployment"):
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        if deployment["spec"].get("replicas", 2) > 1:  # an autoscaled one has no replicas field
            assert component in budgets, component
    assert "tickets-consumer" in budgets and "orders-worker" in budgets
    assert not any(budget.endswith("-beat") for budget in budgets)
    single = {
        b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for b in render(*FAST).of_kind("PodDisruptionBudget")
    }
    assert "tickets-consumer" not in single  # one replica: nothing to budget


def test_web_pods_wait_before_stopping_so_no_request_is_cut(default):
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for deployment in default.of_kind("Deployment"):
        if not deployment["metadata"]["name"].endswith(("-web", "web-client")):
            continue
        spec = pod_spec(deployment)
        (container,) = spec["containers"]
        assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(values["web"]["preStopSeconds"])]
        assert (
            spec["terminationGracePeriodSeconds"]
            > values["web"]["preStopSeconds"] + values["web"]["gunicorn"]["gracefulTimeout"]
        )


def test_the_services_believe_forwarded_addresses_only_from_the_configured_proxies(default, render):
    assert config_of(default, "orders")["TRUSTED_PROXIES"] == "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fd00::/8"
    narrowed = render(*FAST, "--set-json", 'config.trustedProxies=["10.244.0.0/16"]')
    assert config_of(narrowed, "web-client")["TRUSTED_PROXIES"] == "10.244.0.0/16"


# ---------- Upgrades ----------


def pod_templates(manifests) -> dict[str, str]:
    return {
        w["metadata"]["name"]: json.dumps(w["spec"]["template"], sort_keys=True)
        for w in [*manifests.of_kind("Deployment"), *manifests.of_kind("StatefulSet")]
    }


def test_pod_templates_hold_no_revision_and_nothing_random(render):
    """A no-op upgrade must leave every pod as it is: what changes per revision (the Job
    names) or per render (generated secrets) stays out of Deployments and StatefulSets."""
    first, second = render(*FAST), render(*FAST)
    assert pod_templates(first) == pod_templates(second)
    for name, template in pod_templates(first).items():
        assert "migrate-1" not in template and "setup-1" not in template, name
    uses = [
        path.name
        for path in (CHART / "templates").rglob("*")
        if path.is_file() and "Release.Revision" in path.read_text()
    ]
    assert sorted(uses) == ["NOTES.txt", "_workloads.tpl", "setup-job.yaml"]
    workloads = (CHART / "templates" / "_workloads.tpl").read_text()
    assert workloads.count("Release.Revision") == 1  # the migration Job's name


def test_a_config_change_rolls_only_the_pods_that_read_it(render):
    before = pod_templates(render(*FAST))
    after = pod_templates(render(*FAST, "--set", "orders.orderExpirationSeconds=60"))
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {f"{PREFIX}-orders-{p}" for p in ("web", "consumer", "worker", "beat")}


def test_migration_jobs_log_their_errors_and_fail_in_bounded_time(default):
    for job in default.of_kind("Job"):
        if "migrate" not in job["metadata"]["name"]:
            continue
        assert job["spec"]["backoffLimit"] <= 3
        assert job["spec"]["activeDeadlineSeconds"] <= 900
        for container in containers(job):
            text = " ".join(container.get("args", []) + container.get("command", []))
            assert "/dev/null" not in text, job["metadata"]["name"]
        (wait,) = pod_spec(job)["initContainers"]
        assert 'echo "$out" | tail -n 3' in wait["args"][0]


# ---------- Monitoring ----------


def test_the_service_monitor_scrapes_the_metrics_port_through_headless_services(render):
    manifests = render(
        *FAST,
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set-json",
        'metrics.serviceMonitor.labels={"release":"prometheus"}',
    )
    (monitor,) = manifests.of_kind("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    metrics_services = [s for s in manifests.of_kind("Service") if s["metadata"]["name"].endswith("-metrics")]
    assert len(metrics_services) == 6
    for service in metrics_services:
        assert service["spec"]["clusterIP"] == "None"
        assert [p["targetPort"] for p in service["spec"]["ports"]] == ["metrics"]
    ingress = json.dumps(manifests.of_kind("Ingress"))
    assert "-metrics" not in ingress
    for obj in manifests.objects:
        if obj["kind"] != "ServiceMonitor":
            kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)


def test_the_dashboard_shows_the_metrics_the_services_export(render):
    manifests = render(*FAST, "--set", "metrics.dashboard.enabled=true")
    config = manifests.get("ConfigMap", f"{PREFIX}-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config["data"]["ticketing.json"])
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {
        "Requests per second",
        "Request latency (p50, p95)",
        "Outbox backlog",
        "Oldest unpublished event",
        "Consumer lag",
        "Dead letters",
        "Reservations per minute",
    } <= titles
    exported = set(re.findall(r'(?:Counter|Histogram)\("(\w+)"', METRICS))
    exported |= set(re.findall(r'GaugeMetricFamily\(\s*"(\w+)"', METRICS))
    exported |= {f"{name}_total" for name in re.findall(r'CounterMetricFamily\(\s*"(\w+)"', METRICS)}
    exported |= {f"{name}_bucket" for name in re.findall(r'Histogram\(\s*"(\w+)"', METRICS)}
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"\b([a-z_]+)\{", target["expr"]))
    assert used and used <= exported, used - exported
