"""Outgoing email (console in a trial, SMTP in production) and the web processes' gunicorn."""

from __future__ import annotations

import pytest

from .chart import CHART, FAST, PREFIX, REAL_STRIPE, STRIPE_KEYS, env_of, pod_spec, run_helm

MAILERS = ["auth", "orders", "tickets"]
CONSOLE = "django.core.mail.backends.console.EmailBackend"
SMTP = "django.core.mail.backends.smtp.EmailBackend"


def config_of(manifests, service):
    return manifests.get("ConfigMap", f"{PREFIX}-{service}")["data"]


def deployments_of(manifests, service):
    return [d for d in manifests.of_kind("Deployment") if d["metadata"]["name"].startswith(f"{PREFIX}-{service}-")]


def test_a_trial_writes_email_to_the_log_and_needs_no_smtp_server(default):
    for service in MAILERS:
        config = config_of(default, service)
        assert config["EMAIL_BACKEND"] == CONSOLE
        assert "EMAIL_HOST" not in config
        assert config["SITE_URL"] == "http://ticketing.local"
        assert config["DEFAULT_FROM_EMAIL"] == "Ticketing <no-reply@ticketing.local>"
        for deployment in deployments_of(default, service):
            for container in pod_spec(deployment)["containers"]:
                assert "EMAIL_HOST_PASSWORD" not in env_of(container)
    assert not [name for name in default.names("Secret") if name.endswith("-email")]
    # The services that send no email get none of its settings.
    for service in ["payments", "expiration", "web-client"]:
        assert not {"EMAIL_BACKEND", "SITE_URL"} & set(config_of(default, service))


def test_the_services_own_email_settings_reach_them(default):
    assert config_of(default, "auth")["PASSWORD_RESET_TIMEOUT"] == "3600"
    assert config_of(default, "orders")["NOTIFICATIONS_RETRY_SECONDS"] == "60"


def test_the_production_example_sends_over_smtp_with_the_password_from_its_secret(external):
    for service in MAILERS:
        config = config_of(external, service)
        assert config["EMAIL_BACKEND"] == SMTP
        assert config["EMAIL_HOST"] == "email-smtp.eu-west-1.amazonaws.com"
        assert config["EMAIL_PORT"] == "587"
        assert config["EMAIL_HOST_USER"] == "AKIAEXAMPLESMTPUSER"
        assert (config["EMAIL_USE_TLS"], config["EMAIL_USE_SSL"]) == ("1", "0")
        assert config["DEFAULT_FROM_EMAIL"] == "Tickets <no-reply@tickets.example.com>"
        assert config["SITE_URL"] == "https://tickets.example.com"
        deployments = deployments_of(external, service)
        assert deployments
        for deployment in deployments:
            (container,) = pod_spec(deployment)["containers"]
            password = env_of(container)["EMAIL_HOST_PASSWORD"]["valueFrom"]["secretKeyRef"]
            assert password == {"name": "ticketing-email", "key": "email-password"}
    # The Secret is the operator's: the chart makes none.
    assert not [name for name in external.names("Secret") if name.endswith("-email")]


def test_a_password_given_in_values_is_kept_in_the_chart_secret_not_in_a_configmap(render):
    manifests = render(*FAST, *REAL_STRIPE, "--set", "email.user=mailer", "--set", "email.password=smtp-secret-42")
    assert manifests.secret_values()[f"{PREFIX}-email/email-password"] == "smtp-secret-42"
    for configmap in manifests.of_kind("ConfigMap"):
        assert "smtp-secret-42" not in str(configmap.get("data"))
    (container,) = pod_spec(manifests.get("Deployment", f"{PREFIX}-orders-worker"))["containers"]
    ref = env_of(container)["EMAIL_HOST_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": f"{PREFIX}-email", "key": "email-password"}


def test_site_url_can_be_set_and_loses_a_trailing_slash(render):
    manifests = render(*FAST, "--set", "config.siteUrl=https://shop.example.com/")
    assert {config_of(manifests, s)["SITE_URL"] for s in MAILERS} == {"https://shop.example.com"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (STRIPE_KEYS, "/email/host"),
        (["--set", "ingress.enabled=false"], "config.siteUrl is required when ingress.enabled is false"),
        (["--set", "email.host=smtp.example.com", "--set", "email.useSSL=true"], "email.useTLS and email.useSSL"),
        (["--set", "email.password=x"], "email.password or email.existingSecret is set but email.host is empty"),
        (["--set", "config.siteUrl=shop.example.com"], "/config/siteUrl"),
        (["--set", "email.from=nobody"], "/email/from"),
    ],
    ids=["production-without-smtp", "no-ingress-no-site-url", "tls-and-ssl", "password-without-host",
         "site-url-without-scheme", "from-without-address"],
)
def test_email_values_that_cannot_work_are_refused(helm, values, message):
    result = run_helm(helm, "template", "shop", str(CHART), *FAST, *values)
    assert result.returncode != 0
    assert message in result.stderr


def test_install_notes_say_where_a_trial_s_email_goes(helm):
    trial = run_helm(helm, "install", "shop", str(CHART), "--dry-run=client", "--namespace", "shop", *FAST)
    assert trial.returncode == 0, trial.stderr
    assert "emails are not sent" in trial.stdout.split("NOTES:", 1)[1]
    production = run_helm(
        helm, "install", "shop", str(CHART), "--dry-run=client", "--namespace", "shop", *FAST,
        "-f", str(CHART / "examples" / "external-infra.yaml"),
    )
    assert production.returncode == 0, production.stderr
    assert "emails are not sent" not in production.stdout.split("NOTES:", 1)[1]


def test_every_web_process_loads_the_shared_gunicorn_config_with_a_metrics_folder_of_its_own(render):
    manifests = render(*FAST, "--set", "web.gunicorn.workers=4")
    webs = [d for d in manifests.of_kind("Deployment") if d["metadata"]["name"].endswith(("-web", "-web-client"))]
    assert len(webs) == 6
    for deployment in webs:
        spec = pod_spec(deployment)
        (container,) = spec["containers"]
        assert container["command"] == ["gunicorn"]
        assert "--config=python:ticketing_shared.gunicorn_conf" in container["args"]
        assert "--workers=4" in container["args"]
        folder = env_of(container)["PROMETHEUS_MULTIPROC_DIR"]["value"]
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == folder]
        (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        assert volume == {"name": mount["name"], "emptyDir": {}}
    # Consumers, workers and beat are not gunicorn: no multiprocess folder for them.
    (consumer,) = pod_spec(manifests.get("Deployment", f"{PREFIX}-orders-consumer"))["containers"]
    assert "PROMETHEUS_MULTIPROC_DIR" not in env_of(consumer)
