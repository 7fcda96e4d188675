"""The six services, their environment and their processes.

The environment variable names here are the contract the services' settings read
(``ticketing_shared.conf``); change them in both places or not at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from devstack.infra import VENV_BIN, Keys
from devstack.profiles import ROOT, Profile

DEFAULT_OPERATOR_EMAIL = "operator@example.com"
DEFAULT_OPERATOR_PASSWORD = "operator-dev-password"


@dataclass(frozen=True)
class Service:
    name: str
    folder: str
    redis_db: int
    consumes_events: bool
    publishes_events: bool = True  # a Celery worker and beat drain its outbox
    backend: bool = True  # web_client has no worker, beat or consumer

    @property
    def path(self) -> Path:
        return ROOT / self.folder

    def exists(self) -> bool:
        return (self.path / "manage.py").exists()


SERVICES = [
    Service("auth", "auth_service", redis_db=0, consumes_events=False, publishes_events=False),
    Service("tickets", "tickets_service", redis_db=1, consumes_events=True),
    Service("orders", "orders_service", redis_db=2, consumes_events=True),
    Service("payments", "payments_service", redis_db=3, consumes_events=True),
    Service("expiration", "expiration_service", redis_db=4, consumes_events=True),
    Service("web", "web_client", redis_db=5, consumes_events=False, publishes_events=False, backend=False),
]


def existing() -> list[Service]:
    """Every service written so far (the stack grows as folders appear), or only those
    named in ``DEVSTACK_SERVICES`` (``auth,tickets,orders``)."""
    chosen = {name.strip() for name in os.environ.get("DEVSTACK_SERVICES", "").split(",") if name.strip()}
    return [service for service in SERVICES if service.exists() and (not chosen or service.name in chosen)]


def operator() -> tuple[str, str]:
    return (
        os.environ.get("OPERATOR_EMAIL", DEFAULT_OPERATOR_EMAIL),
        os.environ.get("OPERATOR_PASSWORD", DEFAULT_OPERATOR_PASSWORD),
    )


def base_env(profile: Profile, *, database: str, redis_db: int) -> dict[str, str]:
    """What unit tests need too: the infrastructure, with the low Kafka timeouts of a local run."""
    return {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{profile.port('postgres')}/{database}",
        "REDIS_URL": f"redis://127.0.0.1:{profile.port('redis')}/{redis_db}",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{profile.port('kafka')}",
        "KAFKA_FETCH_WAIT_MAX_MS": "20",  # tansu answers idle fetches after this: lower burns CPU
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "KAFKA_MAX_POLL_INTERVAL_MS": "10000",
        # tansu gives a topic a client's request auto-creates 4 partitions. After a broker lost
        # its data (it keeps topics in memory; the supervisor restarts it empty), that race with
        # the services' own creation could leave a topic with KAFKA_TOPIC_PARTITIONS, and tansu
        # then shrinks a topic the consumers already saw with 4: a librdkafka group stops
        # consuming it. The same count as the broker's leaves nothing to shrink.
        "KAFKA_TOPIC_PARTITIONS": os.environ.get("KAFKA_TOPIC_PARTITIONS", "4"),
        "STRIPE_API_BASE": f"http://127.0.0.1:{profile.port('stripe')}",
        "STRIPE_SECRET_KEY": "sk_test_local",
        "STRIPE_WEBHOOK_SECRET": "whsec_local",
        # The browser loads localstripe's stand-in Stripe.js; the key only has to look right.
        "STRIPE_PUBLISHABLE_KEY": "pk_test_local",
        "STRIPE_JS_URL": f"http://127.0.0.1:{profile.port('stripe')}/js.stripe.com/v3/",
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # make runs .venv/bin/python unactivated
    }


def service_env(service: Service, profile: Profile, keys: Keys) -> dict[str, str]:
    """The full environment of a running service process, on top of ours."""
    email, password = operator()
    env = {
        **os.environ,
        **base_env(profile, database=service.name, redis_db=service.redis_db),
        "DJANGO_DEBUG": "1",
        "DJANGO_SECRET_KEY": f"dev-insecure-{service.name}",
        "DJANGO_ALLOWED_HOSTS": "*",
        "JWT_PUBLIC_KEY_FILE": str(keys.public),
        "ORDER_EXPIRATION_SECONDS": profile.setting("ORDER_EXPIRATION_SECONDS"),
        "OPERATOR_EMAIL": email,
        "OPERATOR_PASSWORD": password,
        "SERVICE_LOG_FORMAT": "plain",
        # Per profile: the dev and test stacks run the same services side by side.
        "HEARTBEAT_DIR": str(profile.data_dir / "heartbeats"),
        **{f"{other.name.upper()}_SERVICE_URL": url(other, profile) for other in SERVICES if other.backend},
        # Outgoing mail: one .eml file per message here (ticketing_shared.mail); links point at the storefront.
        "EMAIL_FILE_PATH": str(profile.data_dir / "mail"),
        "SITE_URL": url(next(other for other in SERVICES if other.name == "web"), profile),
    }
    if service.name == "auth":
        env["JWT_PRIVATE_KEY_FILE"] = str(keys.private)
    return env


def process_env(service: Service, profile: Profile, kind: str) -> dict[str, str]:
    """What one process adds to its service's environment: gunicorn's workers share a
    Prometheus folder of their own (``PROMETHEUS_MULTIPROC_DIR``)."""
    if kind != "web":
        return {}
    return {"PROMETHEUS_MULTIPROC_DIR": str(profile.data_dir / "prometheus" / service.name)}


def url(service: Service, profile: Profile) -> str:
    return f"http://127.0.0.1:{profile.port(service.name)}"


def processes(service: Service, profile: Profile) -> dict[str, list[str | Path]]:
    """Process name -> argv, run from the service folder with the virtualenv's executables."""
    procs: dict[str, list[str | Path]] = {
        # The shared config file empties the metrics folder on start and marks exited workers
        # dead (ticketing_shared.gunicorn_conf), so /metrics adds up every worker's counts.
        "web": [VENV_BIN / "gunicorn", "config.wsgi:application", "--config", "python:ticketing_shared.gunicorn_conf",
                "--bind", f"127.0.0.1:{profile.port(service.name)}",
                "--workers", profile.setting("WEB_WORKERS"), "--threads", profile.setting("WEB_THREADS"),
                "--access-logfile", "-", "--graceful-timeout", "5", "--no-control-socket"],
    }
    if not service.backend:
        return procs
    if service.consumes_events:
        procs["consumer"] = [VENV_BIN / "python", "manage.py", "consume_events"]
    if not service.publishes_events:  # nothing to relay: no worker or beat to keep in memory
        return procs
    # Beat runs inside the worker (``-B``: a forked child sharing its memory), which keeps
    # the local stack light; the Helm chart runs it as its own single-replica Deployment.
    procs["worker"] = [VENV_BIN / "celery", "-A", "config", "worker", "-l", "INFO", "--pool", "threads",
                       "--concurrency", "4", "--without-gossip", "--without-mingle", "--without-heartbeat",
                       "-B"]  # beat's scheduler is the app's beat_scheduler: django-celery-beat's, with a heartbeat
    return procs
