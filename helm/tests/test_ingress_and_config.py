"""The way in (the Ingress) and the environment contract of the services."""

from __future__ import annotations

import pytest

from .chart import BACKENDS, CHART, FAST, NAMESPACE, PREFIX, REAL_STRIPE, RELEASE, env_of, pod_spec, run_helm

ROUTES = {
    "/api/users": f"{PREFIX}-auth",
    "/api/tickets": f"{PREFIX}-tickets",
    "/api/orders": f"{PREFIX}-orders",
    "/api/payments": f"{PREFIX}-payments",
    "/": f"{PREFIX}-web-client",
}


def routes_of(ingress) -> dict[str, str]:
    (rule,) = ingress["spec"]["rules"]
    return {path["path"]: path["backend"]["service"]["name"] for path in rule["http"]["paths"]}


def web_container(manifests, deployment):
    return pod_spec(manifests.get("Deployment", deployment))["containers"][0]


def config_of(manifests, service):
    return manifests.get("ConfigMap", f"{PREFIX}-{service}")["data"]


def test_the_ingress_routes_each_area_to_its_service(any_values):
    (ingress,) = any_values.of_kind("Ingress")
    # The trial also routes the Stripe test double's Stripe.js and the API it calls.
    double = {"/js.stripe.com/": f"{PREFIX}-stripe-double", "/v1/": f"{PREFIX}-stripe-double"}
    trial = f"{PREFIX}-stripe-double" in any_values.names("Deployment")
    assert routes_of(ingress) == (ROUTES | double if trial else ROUTES)
    for path in ingress["spec"]["rules"][0]["http"]["paths"]:
        assert path["pathType"] == "Prefix"
        service = any_values.get("Service", path["backend"]["service"]["name"])
        assert path["backend"]["service"]["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}


def ports_of(container) -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in container["ports"]}


@pytest.mark.parametrize("deployment", [f"{PREFIX}-{s}-web" for s in BACKENDS] + [f"{PREFIX}-web-client"])
def test_metrics_are_served_on_a_port_of_their_own_that_nothing_routes(any_values, deployment):
    """The Ingress sends "/" to the web client: its /metrics must not answer on that port."""
    container = web_container(any_values, deployment)
    ports = ports_of(container)
    assert ports["metrics"] != ports["http"]
    # The service answers /metrics only on METRICS_PORT, and gunicorn listens on both ports.
    assert env_of(container)["METRICS_PORT"]["value"] == str(ports["metrics"])
    assert {f"--bind=0.0.0.0:{ports['http']}", f"--bind=0.0.0.0:{ports['metrics']}"} <= set(container["args"])
    # No Service exposes the metrics port, and the Ingress reaches Services on "http" only.
    (ingress,) = any_values.of_kind("Ingress")
    for path in ingress["spec"]["rules"][0]["http"]["paths"]:
        assert path["backend"]["service"]["port"] == {"name": "http"}
        assert path["path"] != "/metrics"
    for service in any_values.of_kind("Service"):
        if service["metadata"]["name"] in ROUTES.values():
            assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]


def test_the_metrics_port_can_move_but_not_onto_the_public_port(render, helm):
    moved = render(*FAST, "--set", "metrics.port=9300")
    container = web_container(moved, f"{PREFIX}-web-client")
    assert ports_of(container)["metrics"] == 9300
    assert env_of(container)["METRICS_PORT"]["value"] == "9300"

    clash = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *FAST,
                     "--set", "metrics.port=8000")
    assert clash.returncode != 0
    assert "metrics.port must differ from web.containerPort" in clash.stderr


def test_the_ingress_host_and_tls_come_from_values(default, external):
    (trial,) = default.of_kind("Ingress")
    assert trial["spec"]["rules"][0]["host"] == "ticketing.local"
    assert "tls" not in trial["spec"]
    (production,) = external.of_kind("Ingress")
    assert production["spec"]["rules"][0]["host"] == "tickets.example.com"
    assert production["spec"]["tls"] == [{"hosts": ["tickets.example.com"], "secretName": "tickets.example.com-tls"}]
    assert production["spec"]["ingressClassName"] == "nginx"
    assert production["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"


def test_cookies_and_csrf_follow_the_scheme_the_site_is_served_on(default, external):
    for service in [*BACKENDS, "web-client"]:
        assert config_of(default, service)["DJANGO_SECURE_COOKIES"] == "0"
        assert config_of(default, service)["DJANGO_CSRF_TRUSTED_ORIGINS"] == "http://ticketing.local"
        assert config_of(external, service)["DJANGO_SECURE_COOKIES"] == "1"
        assert config_of(external, service)["DJANGO_CSRF_TRUSTED_ORIGINS"] == "https://tickets.example.com"


def test_no_ingress_when_switched_off(render):
    manifests = render(*FAST, "--set", "ingress.enabled=false", "--set", "config.siteUrl=https://shop.example.com")
    assert manifests.of_kind("Ingress") == []
    # Without the chart's Ingress the scheme is unknown: cookies stay secure.
    assert config_of(manifests, "auth")["DJANGO_SECURE_COOKIES"] == "1"


@pytest.mark.parametrize("deployment", [f"{PREFIX}-orders-web", f"{PREFIX}-orders-consumer", f"{PREFIX}-web-client"])
def test_services_answer_to_the_public_host_their_service_name_and_the_pod_ip(default, deployment):
    env = env_of(web_container(default, deployment))
    hosts = env["DJANGO_ALLOWED_HOSTS"]["value"].split(",")
    service = f"{PREFIX}-web-client" if deployment.endswith("web-client") else f"{PREFIX}-orders"
    assert {"ticketing.local", service, f"{service}.{NAMESPACE}.svc.cluster.local", "$(POD_IP)"} <= set(hosts)
    # $(POD_IP) is substituted only from a variable defined before it.
    names = list(env)
    assert names.index("POD_IP") < names.index("DJANGO_ALLOWED_HOSTS")
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}


@pytest.mark.parametrize("service", BACKENDS)
def test_backends_get_their_database_redis_and_kafka(any_values, service):
    config = config_of(any_values, service)
    assert config["DJANGO_DEBUG"] == "0"
    assert config["KAFKA_BOOTSTRAP_SERVERS"]
    env = env_of(web_container(any_values, f"{PREFIX}-{service}-web"))
    assert env["DATABASE_URL"]["value"].startswith(f"postgres://{service}:$(DATABASE_PASSWORD)@")
    assert env["DATABASE_URL"]["value"].split("?")[0].endswith(f"/{service}")
    names = list(env)
    assert names.index("DATABASE_PASSWORD") < names.index("DATABASE_URL")
    assert env["DJANGO_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["key"] == f"{service}-secret-key"
    for name in ("DJANGO_ALLOWED_HOSTS", "REDIS_URL", "LOG_LEVEL"):
        assert name in env or name in config


def test_each_service_has_its_own_redis_database(any_values):
    numbers = {}
    for deployment in [*(f"{PREFIX}-{s}-web" for s in BACKENDS), f"{PREFIX}-web-client"]:
        url = env_of(web_container(any_values, deployment))["REDIS_URL"]["value"]
        numbers[deployment] = url.rsplit("/", 1)[1]
    assert len(set(numbers.values())) == len(numbers), numbers


def test_only_auth_holds_the_private_key_and_the_others_verify_with_its_jwks(default):
    auth = config_of(default, "auth")
    assert auth["JWT_PRIVATE_KEY_FILE"] == "/etc/ticketing/jwt/private.pem"
    auth_pod = pod_spec(default.get("Deployment", f"{PREFIX}-auth-web"))
    (jwt,) = [v for v in auth_pod["volumes"] if v["name"] == "jwt"]
    assert jwt["secret"]["secretName"] == f"{PREFIX}-jwt"
    assert jwt["secret"]["items"] == [{"key": "private-key", "path": "private.pem"}]
    assert {"name": "jwt", "mountPath": "/etc/ticketing/jwt", "readOnly": True} in auth_pod["containers"][0][
        "volumeMounts"
    ]
    for service in ("tickets", "orders", "payments", "expiration"):
        config = config_of(default, service)
        assert config["JWT_JWKS_URL"] == f"http://{PREFIX}-auth/api/users/jwks.json"
        assert "JWT_PRIVATE_KEY_FILE" not in config
    for workload in default.of_kind("Deployment") + default.of_kind("Job"):
        volumes = pod_spec(workload)["volumes"]
        holds_key = any(v.get("secret", {}).get("secretName") == f"{PREFIX}-jwt" for v in volumes)
        assert holds_key == workload["metadata"]["name"].startswith(f"{PREFIX}-auth-"), workload["metadata"]["name"]


def test_a_public_key_in_an_existing_secret_is_mounted_everywhere(render):
    manifests = render("--set", "jwt.existingSecret=signing", "--set", "jwt.publicKeyKey=public.pem")
    assert f"{PREFIX}-jwt" not in manifests.names("Secret")
    for service in ("tickets", "orders", "payments", "expiration"):
        assert config_of(manifests, service)["JWT_PUBLIC_KEY_FILE"] == "/etc/ticketing/jwt/public.pem"
        assert "JWT_JWKS_URL" not in config_of(manifests, service)
        pod = pod_spec(manifests.get("Deployment", f"{PREFIX}-{service}-consumer"))
        (jwt,) = [v for v in pod["volumes"] if v["name"] == "jwt"]
        assert jwt["secret"] == {
            "secretName": "signing",
            "defaultMode": 0o440,
            "items": [{"key": "public.pem", "path": "public.pem"}],
        }


def test_orders_get_the_reservation_window(render):
    manifests = render(*FAST, "--set", "orders.orderExpirationSeconds=120")
    assert config_of(manifests, "orders")["ORDER_EXPIRATION_SECONDS"] == "120"
    assert "ORDER_EXPIRATION_SECONDS" not in config_of(manifests, "tickets")


def test_stripe_keys_reach_payments_and_the_publishable_key_the_web_client(render):
    manifests = render(
        *FAST, *REAL_STRIPE, "--set", "stripe.apiBase=http://stripe-mock:8420", "--set", "stripe.jsUrl=/js/"
    )
    payments = env_of(web_container(manifests, f"{PREFIX}-payments-web"))
    for name, key in (("STRIPE_SECRET_KEY", "secret-key"), ("STRIPE_WEBHOOK_SECRET", "webhook-secret")):
        assert payments[name]["valueFrom"]["secretKeyRef"] == {"name": f"{PREFIX}-stripe", "key": key}
    assert config_of(manifests, "payments")["STRIPE_API_BASE"] == "http://stripe-mock:8420"
    client = env_of(web_container(manifests, f"{PREFIX}-web-client"))
    assert client["STRIPE_PUBLISHABLE_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "publishable-key"
    assert "STRIPE_SECRET_KEY" not in client
    assert config_of(manifests, "web-client")["STRIPE_JS_URL"] == "/js/"
    assert config_of(manifests, "web-client")["STRIPE_TEST_MODE"] == "0"
    # Production talks to Stripe itself, and runs no test double.
    production = render(*FAST, *REAL_STRIPE)
    assert "STRIPE_API_BASE" not in config_of(production, "payments")
    assert "STRIPE_JS_URL" not in config_of(production, "web-client")
    assert not [d for d in production.of_kind("Deployment") if "stripe-double" in d["metadata"]["name"]]


def test_the_web_client_calls_the_apis_over_the_cluster_services(any_values):
    config = config_of(any_values, "web-client")
    for service in ("auth", "tickets", "orders", "payments"):
        url = config[f"{service.upper()}_SERVICE_URL"]
        assert url == f"http://{PREFIX}-{service}"
        assert url.removeprefix("http://") in any_values.names("Service")
    # No database and no broker: the storefront keeps its sessions in Redis.
    assert "KAFKA_BOOTSTRAP_SERVERS" not in config
    assert env_of(web_container(any_values, f"{PREFIX}-web-client"))["REDIS_URL"]["value"].endswith("/5")
