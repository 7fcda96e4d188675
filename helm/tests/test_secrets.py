"""Secrets: generated or taken from existing Secrets, and never spilled into plain config."""

from __future__ import annotations

import base64
import json

import pytest

from .chart import BACKENDS, CHART, FAST, PREFIX, REAL_STRIPE, pod_spec

INLINE_SECRETS = {
    "externalDatabase.passwords.auth": "db-pass-auth-0001",
    "externalDatabase.passwords.tickets": "db-pass-tickets-0002",
    "externalDatabase.passwords.orders": "db-pass-orders-0003",
    "externalDatabase.passwords.payments": "db-pass-payments-0004",
    "externalDatabase.passwords.expiration": "db-pass-expiration-0005",
    "externalRedis.password": "redis-pass-0006",
    "externalKafka.sasl.password": "sasl-pass-0007",
    "stripe.secretKey": "sk_test_inline_0008",
    "stripe.webhookSecret": "whsec_inline_0009",
    "stripe.publishableKey": "pk_test_inline_0010",
    "email.password": "smtp-pass-0011",
}
EXTERNAL_HOSTS = [
    "--set",
    "postgresql.enabled=false",
    "--set",
    "externalDatabase.host=db.example.com",
    "--set",
    "redis.enabled=false",
    "--set",
    "externalRedis.host=redis.example.com",
    "--set",
    "kafka.enabled=false",
    "--set",
    "externalKafka.bootstrapServers=kafka.example.com:9096",
    "--set",
    "externalKafka.sasl.username=ticketing",
    "--set",
    "stripeDouble.enabled=false",
    "--set",
    "email.host=smtp.example.com",
]


@pytest.fixture(scope="module")
def inline(render):
    """Production infrastructure with every secret given in values (the chart stores them)."""
    args = [*FAST, *EXTERNAL_HOSTS]
    for key, value in INLINE_SECRETS.items():
        args += ["--set", f"{key}={value}"]
    return render(*args)


def plain_config(manifests) -> str:
    """Everything readable without access to Secrets: ConfigMaps and literal env values."""
    parts = [json.dumps(c.get("data", {})) for c in manifests.of_kind("ConfigMap")]
    for workload in manifests.of_kind("Deployment") + manifests.of_kind("Job") + manifests.of_kind("StatefulSet"):
        spec = pod_spec(workload)
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            parts += [entry.get("value", "") for entry in container.get("env", [])]
            parts += container.get("args", []) + container.get("command", [])
        parts.append(json.dumps(workload["spec"]["template"]["metadata"]))
    return "\n".join(parts)


@pytest.mark.parametrize("values", ["default", "inline"])
def test_no_secret_value_appears_in_a_configmap_or_a_manifest_env(request, values):
    manifests = request.getfixturevalue(values)
    secrets = manifests.secret_values()
    assert secrets, "the chart rendered no Secret to check against"
    visible = plain_config(manifests)
    leaks = [name for name, value in secrets.items() if len(value) >= 8 and value in visible]
    assert not leaks, f"secret values in plain config: {leaks}"


def test_values_given_inline_end_up_in_secrets(inline):
    secrets = set(inline.secret_values().values())
    assert set(INLINE_SECRETS.values()) <= secrets


def test_the_leak_check_would_catch_a_password_in_a_configmap(inline):
    """Guard for the check above: the same search finds a secret that was put in plain config."""
    inline.get("ConfigMap", f"{PREFIX}-orders")["data"]["LEAKED"] = "postgres://orders:db-pass-orders-0003@db/orders"
    try:
        assert "db-pass-orders-0003" in plain_config(inline)
    finally:
        del inline.get("ConfigMap", f"{PREFIX}-orders")["data"]["LEAKED"]


def test_generated_secrets_are_strong_and_kept_across_upgrades(default):
    secrets = default.secret_values()
    django = {key: value for key, value in secrets.items() if key.startswith(f"{PREFIX}-django/")}
    assert set(django) == {f"{PREFIX}-django/{service}-secret-key" for service in [*BACKENDS, "web-client"]}
    assert all(len(value) == 50 for value in django.values())
    assert len(set(django.values())) == len(django)
    database = {key for key in secrets if key.startswith(f"{PREFIX}-postgresql/")}
    assert database == {f"{PREFIX}-postgresql/postgres-password"} | {
        f"{PREFIX}-postgresql/{service}-password" for service in BACKENDS
    }
    pem = secrets[f"{PREFIX}-jwt/private-key"].strip().splitlines()
    assert pem[0] == "-----BEGIN RSA PRIVATE KEY-----"
    assert pem[-1] == "-----END RSA PRIVATE KEY-----"
    # A PKCS#1 key of 2048 bits or more is well over 1,100 bytes of DER.
    assert len(base64.b64decode("".join(pem[1:-1]))) > 1100
    # Removing these with the release would strand a kept data volume or issued tokens.
    for name in (f"{PREFIX}-jwt", f"{PREFIX}-django", f"{PREFIX}-postgresql"):
        assert default.get("Secret", name)["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_generated_secrets_reuse_what_the_cluster_holds():
    """`lookup` is what keeps them (no cluster here to watch it work); a template that
    skipped the helper would regenerate its secret on every upgrade."""
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    assert 'lookup "v1" "Secret" .context.Release.Namespace .name' in helpers
    for template in ("secrets/jwt.yaml", "secrets/django.yaml", "postgresql/secret.yaml", "redis/secret.yaml"):
        assert "ticketing.secrets.keep" in (CHART / "templates" / template).read_text(), template


def test_existing_secrets_replace_the_generated_ones(render):
    manifests = render(
        "--set",
        "jwt.existingSecret=my-jwt",
        "--set",
        "django.existingSecret=my-django",
        "--set",
        "stripe.existingSecret=my-stripe",
        "--set",
        "stripeDouble.enabled=false",
        "--set",
        "email.host=smtp.example.com",
        "--set",
        "email.existingSecret=my-email",
        "--set",
        "kafka.sasl.existingSecret=my-kafka",
        "--set",
        "postgresql.existingSecret=my-postgresql",
        "--set",
        "redis.existingSecret=my-redis",
    )
    assert manifests.of_kind("Secret") == []
    referenced = set()
    for workload in manifests.of_kind("Deployment") + manifests.of_kind("StatefulSet") + manifests.of_kind("Job"):
        spec = pod_spec(workload)
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            for entry in container.get("env", []):
                if "secretKeyRef" in entry.get("valueFrom", {}):
                    referenced.add(entry["valueFrom"]["secretKeyRef"]["name"])
        referenced |= {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    assert referenced == {"my-jwt", "my-django", "my-stripe", "my-email", "my-kafka", "my-postgresql", "my-redis"}


def test_stripe_keys_given_in_values_are_stored_in_the_chart_secret(render):
    manifests = render(*FAST, *REAL_STRIPE)
    secrets = manifests.secret_values()
    assert secrets[f"{PREFIX}-stripe/secret-key"] == "sk_test_x"
    assert secrets[f"{PREFIX}-stripe/publishable-key"] == "pk_test_y"
