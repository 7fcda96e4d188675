"""PostgreSQL, Kafka and Redis: in the release for a trial, external in production."""

from __future__ import annotations

import pytest

from .chart import BACKENDS, EVENT_SERVICES, FAST, NAMESPACE, PREFIX, env_of, pod_spec

IN_CHART = {
    "postgresql": "docker.io/library/postgres:",
    "kafka": "docker.io/apache/kafka:",
    "redis": "docker.io/library/redis:",
}


def container_env(manifests, deployment):
    return env_of(pod_spec(manifests.get("Deployment", deployment))["containers"][0])


def test_the_trial_runs_its_own_infrastructure_from_official_images(default):
    assert default.names("StatefulSet") == {f"{PREFIX}-{name}" for name in IN_CHART}
    for name, image in IN_CHART.items():
        statefulset = default.get("StatefulSet", f"{PREFIX}-{name}")
        assert statefulset["spec"]["replicas"] == 1
        (container,) = pod_spec(statefulset)["containers"]
        assert container["image"].startswith(image)
        assert {f"{PREFIX}-{name}", f"{PREFIX}-{name}-headless"} <= default.names("Service")
        assert statefulset["spec"]["serviceName"] == f"{PREFIX}-{name}-headless"


def test_the_trial_database_has_one_database_and_user_per_service(default):
    script = default.get("ConfigMap", f"{PREFIX}-postgresql-initdb")["data"]["10-service-databases.sh"]
    postgres = pod_spec(default.get("StatefulSet", f"{PREFIX}-postgresql"))["containers"][0]
    env = env_of(postgres)
    for service in BACKENDS:
        assert f'create_service_database "{service}" "{service}" "${service.upper()}_PASSWORD"' in script
        assert env[f"{service.upper()}_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": f"{PREFIX}-postgresql",
            "key": f"{service}-password",
        }
        url = container_env(default, f"{PREFIX}-{service}-web")["DATABASE_URL"]["value"]
        assert url == f"postgres://{service}:$(DATABASE_PASSWORD)@{PREFIX}-postgresql:5432/{service}"
    mounts = {m["mountPath"]: m["name"] for m in postgres["volumeMounts"]}
    assert mounts["/docker-entrypoint-initdb.d"] == "initdb"
    # postgres 18+ images keep data under /var/lib/postgresql/<major>/ and refuse a mount at .../data.
    assert mounts["/var/lib/postgresql"] == "data"


def kafka_properties(manifests) -> dict[str, str]:
    """server.properties as the in-chart broker's start script writes it."""
    script = manifests.get("ConfigMap", f"{PREFIX}-kafka-scripts")["data"]["start-kafka.sh"]
    body = script.split('cat > "$props" <<EOF\n', 1)[1].split("\nEOF\n", 1)[0]
    return dict(line.split("=", 1) for line in body.splitlines())


def test_the_trial_kafka_is_a_single_kraft_node_reachable_by_its_service(default):
    kafka = pod_spec(default.get("StatefulSet", f"{PREFIX}-kafka"))
    (container,) = kafka["containers"]
    assert container["command"] == ["/bin/bash", "/opt/ticketing/start-kafka.sh"]
    env = {name: entry.get("value") for name, entry in env_of(container).items()}
    props = kafka_properties(default)
    assert props["process.roles"] == "broker,controller"
    assert props["advertised.listeners"] == "CLIENT://${KAFKA_ADVERTISED_HOST}:9092"
    assert env["KAFKA_ADVERTISED_HOST"] == f"{PREFIX}-kafka.{NAMESPACE}.svc.cluster.local"
    assert props["offsets.topic.replication.factor"] == "1"
    assert len(env["CLUSTER_ID"]) == 22
    # A Service named *kafka* would otherwise inject KAFKA_* variables.
    assert kafka["enableServiceLinks"] is False
    for service in EVENT_SERVICES:
        config = default.get("ConfigMap", f"{PREFIX}-{service}")["data"]
        assert config["KAFKA_BOOTSTRAP_SERVERS"] == f"{PREFIX}-kafka:9092"
        # Topics the broker auto-creates and those the services create get the same partitions.
        assert config["KAFKA_TOPIC_PARTITIONS"] == props["num.partitions"] == "3"


def test_the_trial_redis_requires_its_generated_password(default):
    redis = pod_spec(default.get("StatefulSet", f"{PREFIX}-redis"))["containers"][0]
    assert redis["args"][:2] == ["--requirepass", "$(REDIS_PASSWORD)"]
    url = container_env(default, f"{PREFIX}-tickets-worker")["REDIS_URL"]["value"]
    assert url == f"redis://:$(REDIS_PASSWORD)@{PREFIX}-redis:6379/1"


@pytest.mark.parametrize("claim", ["postgresql", "kafka", "redis"])
def test_trial_data_is_persistent_unless_switched_off(default, render, claim):
    statefulset = default.get("StatefulSet", f"{PREFIX}-{claim}")
    (template,) = statefulset["spec"]["volumeClaimTemplates"]
    assert template["metadata"]["name"] == "data"
    ephemeral = render("--set", "jwt.existingSecret=x", "--set", f"{claim}.persistence.enabled=false")
    statefulset = ephemeral.get("StatefulSet", f"{PREFIX}-{claim}")
    assert "volumeClaimTemplates" not in statefulset["spec"]
    assert {"name": "data", "emptyDir": {}} in pod_spec(statefulset)["volumes"]


def test_production_values_switch_the_in_chart_infrastructure_off(external):
    assert external.of_kind("StatefulSet") == []
    services = external.names("Service")
    assert not {name for name in services if name.endswith(("-postgresql", "-kafka", "-redis"))}
    assert not [c for c in external.names("ConfigMap") if "postgresql" in c]
    assert not [s for s in external.names("Secret") if s.endswith(("-postgresql", "-redis"))]


@pytest.mark.parametrize("service", BACKENDS)
def test_production_values_use_the_given_database(external, service):
    for deployment in [d for d in external.names("Deployment") if d.startswith(f"{PREFIX}-{service}-")]:
        env = container_env(external, deployment)
        assert env["DATABASE_URL"]["value"] == (
            f"postgres://{service}:$(DATABASE_PASSWORD)@tickets-prod.abc123.eu-west-1.rds.amazonaws.com:5432/"
            f"{service}?sslmode=verify-full"
        )
        assert env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "ticketing-database",
            "key": f"{service}-password",
        }


def test_production_values_use_the_given_redis_over_tls(external):
    for deployment in external.of_kind("Deployment"):
        env = env_of(pod_spec(deployment)["containers"][0])
        assert env["REDIS_URL"]["value"].startswith(
            "rediss://:$(REDIS_PASSWORD)@ticketing.xyz123.cache.amazonaws.com:6379/"
        )
        assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "ticketing-redis",
            "key": "redis-password",
        }


def test_production_values_use_the_given_kafka_with_sasl_and_tls(external):
    for service in BACKENDS:
        config = external.get("ConfigMap", f"{PREFIX}-{service}")["data"]
        assert config["KAFKA_BOOTSTRAP_SERVERS"] == (
            "b-1.events.kafka.eu-west-1.amazonaws.com:9096,b-2.events.kafka.eu-west-1.amazonaws.com:9096"
        )
        assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert config["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert config["KAFKA_SASL_USERNAME"] == "ticketing"
        assert config["KAFKA_SSL_CA_LOCATION"] == "/etc/ticketing/kafka/ca.crt"
        # The services create missing topics themselves: they need the partition count too.
        assert config["KAFKA_TOPIC_PARTITIONS"] == "6"
    consumer = pod_spec(external.get("Deployment", f"{PREFIX}-orders-consumer"))
    env = env_of(consumer["containers"][0])
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "ticketing-kafka",
        "key": "sasl-password",
    }
    (ca,) = [v for v in consumer["volumes"] if v["name"] == "kafka-ca"]
    assert ca["secret"]["secretName"] == "ticketing-kafka"
    assert {"name": "kafka-ca", "mountPath": "/etc/ticketing/kafka", "readOnly": True} in consumer["containers"][0][
        "volumeMounts"
    ]
    # The storefront talks to no broker.
    client = pod_spec(external.get("Deployment", f"{PREFIX}-web-client"))
    assert "KAFKA_SASL_PASSWORD" not in env_of(client["containers"][0])
    assert "kafka-ca" not in {v["name"] for v in client["volumes"]}


def test_production_values_verify_the_database_certificate(external):
    """verify-full needs the provider's CA: the example mounts it into every container that connects."""
    for workload in external.of_kind("Deployment") + external.of_kind("Job"):
        spec = pod_spec(workload)
        assert {"name": "database-ca", "configMap": {"name": "database-ca"}} in spec["volumes"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            assert env_of(container)["PGSSLROOTCERT"]["value"] == "/etc/ticketing/database-ca/ca.pem"
            assert {"name": "database-ca", "mountPath": "/etc/ticketing/database-ca", "readOnly": True} in container[
                "volumeMounts"
            ]


def test_kafka_keeps_its_log_in_a_folder_of_the_volume(default):
    (kafka,) = pod_spec(default.get("StatefulSet", f"{PREFIX}-kafka"))["containers"]
    log_dirs = kafka_properties(default)["log.dirs"]
    (mount,) = [m["mountPath"] for m in kafka["volumeMounts"] if m["name"] == "data"]
    assert log_dirs.startswith(mount + "/")


def test_one_value_sets_the_partitions_of_the_broker_and_the_services(render):
    manifests = render(*FAST, "--set", "kafka.topicPartitions=12")
    assert kafka_properties(manifests)["num.partitions"] == "12"
    for service in EVENT_SERVICES:
        assert manifests.get("ConfigMap", f"{PREFIX}-{service}")["data"]["KAFKA_TOPIC_PARTITIONS"] == "12"
    # The storefront talks to no broker.
    assert "KAFKA_TOPIC_PARTITIONS" not in manifests.get("ConfigMap", f"{PREFIX}-web-client")["data"]
