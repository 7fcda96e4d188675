"""Settings every service shares, read from the environment only.

A service's ``config/settings.py`` calls :func:`service_settings` and adds what is
its own. Production values that are missing fail loudly at start-up; development
defaults apply only when ``DJANGO_DEBUG`` is on.
"""

from __future__ import annotations

import ipaddress
import logging
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()
logger = logging.getLogger(__name__)


def dev_mode() -> bool:
    """Development defaults apply: ``DJANGO_DEBUG`` (make dev) or ``DJANGO_TESTING`` (pytest)."""
    return env.bool("DJANGO_DEBUG", default=False) or env.bool("DJANGO_TESTING", default=False)


def required(name: str, dev_default: str) -> str:
    """An environment value production must set; ``dev_default`` in development and tests."""
    value = env.str(name, default="")
    if value:
        return value
    if dev_mode():
        return dev_default
    raise ImproperlyConfigured(f"{name} must be set in production")


def base_settings(*, service_name: str, base_dir: Path, redis_db: int = 0) -> dict[str, Any]:
    """What every Django project of the suite shares, the web client included: secrets and
    hosts, Redis as the cache, static files through whitenoise, logging, secure cookies."""
    debug = env.bool("DJANGO_DEBUG", default=False)
    dev = dev_mode()
    settings: dict[str, Any] = {
        "SERVICE_NAME": service_name,
        "BASE_DIR": base_dir,
        "DEBUG": debug,
        "SECRET_KEY": required("DJANGO_SECRET_KEY", f"dev-insecure-{service_name}"),
        "ALLOWED_HOSTS": env.list("DJANGO_ALLOWED_HOSTS", default=["*"] if dev else []),
        "CSRF_TRUSTED_ORIGINS": env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[]),
        "ROOT_URLCONF": "config.urls",
        "WSGI_APPLICATION": "config.wsgi.application",
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "LANGUAGE_CODE": "en-us",
        "CACHES": {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": required("REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}"),
                "KEY_PREFIX": service_name,
            }
        },
        "STATIC_URL": "/static/",
        "STATIC_ROOT": base_dir / "staticfiles",
        "STORAGES": {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {
                "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
                if dev
                else "whitenoise.storage.CompressedManifestStaticFilesStorage"
            },
        },
        "WHITENOISE_USE_FINDERS": dev,
        "WHITENOISE_AUTOREFRESH": dev,
        "LOGGING": logging_settings(service_name),
        # When set, /metrics answers only requests received on this port (ticketing_shared.metrics):
        # the chart's gunicorn listens on it besides the app's port, and neither its Service nor
        # its Ingress routes it. Unset (make dev), /metrics answers on the service's own port.
        "METRICS_PORT": env.int("METRICS_PORT", default=0),
        # Peers whose X-Forwarded-For is believed (ticketing_shared.clientip).
        "TRUSTED_PROXIES": trusted_proxies(dev=dev),
    }
    if not dev:
        settings.update(
            SESSION_COOKIE_SECURE=env.bool("DJANGO_SECURE_COOKIES", default=True),
            CSRF_COOKIE_SECURE=env.bool("DJANGO_SECURE_COOKIES", default=True),
            SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
        )
    return settings


# In development every process of the stack (the web client above all) runs on loopback.
DEV_TRUSTED_PROXIES = ["127.0.0.1/32", "::1/128"]


def trusted_proxies(*, dev: bool) -> list[str]:
    """``TRUSTED_PROXIES``: the networks whose ``X-Forwarded-For`` a service believes.

    Without it nobody is trusted in production, so a header made up on the internet
    changes nothing; ``make dev`` trusts loopback, where its web client calls from.
    A typo must not silently trust nobody (or everybody), so a bad entry stops start-up.
    """
    entries = env.list("TRUSTED_PROXIES", default=DEV_TRUSTED_PROXIES if dev else [])
    networks = []
    for entry in filter(str.strip, entries):
        try:
            networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError as error:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: {entry!r} is not an address or network") from error
    return networks


def outbox_retention_hours() -> float:
    return env.float("OUTBOX_RETENTION_HOURS", default=24 * 7)


def inbox_retention_days() -> float:
    """How long a consumer remembers the id of an event it applied (``events_processed``):
    a redelivery within that time changes nothing, whatever its handler. It must outlast
    the outbox's retention, or ``republish_events`` could send again events their consumers
    have forgotten; the broker's own retention (seven days by default in Kafka) should fit
    in it too."""
    days = env.float("INBOX_RETENTION_DAYS", default=30.0)
    if days * 24 <= outbox_retention_hours():
        raise ImproperlyConfigured(
            f"INBOX_RETENTION_DAYS ({days:g}) must be longer than OUTBOX_RETENTION_HOURS "
            f"({outbox_retention_hours():g} hours): republish_events could send again events the inbox forgot"
        )
    return days


def bench_apps() -> list[str]:
    """``BENCH_ENDPOINTS`` adds the benchmark's bare endpoint (``ticketing_shared.bench``);
    only a development or test stack may have it, so production refuses to start with it."""
    if not env.bool("BENCH_ENDPOINTS", default=False):
        return []
    if not dev_mode():
        raise ImproperlyConfigured("BENCH_ENDPOINTS is for the benchmark's local stack, never production")
    return ["ticketing_shared.bench"]


def service_settings(
    *,
    service_name: str,
    api_area: str | None,
    base_dir: Path,
    apps: list[str],
) -> dict[str, Any]:
    """Return the settings shared by every backend service, as a dict for ``globals().update``."""
    dev = dev_mode()
    database = env.db_url_config(required("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{service_name}"))
    database.update(
        CONN_MAX_AGE=env.int("DATABASE_CONN_MAX_AGE", default=60),
        CONN_HEALTH_CHECKS=True,
        ATOMIC_REQUESTS=False,
    )
    # A session whose host vanished (node crash, partition) must not keep its locks, such as
    # the relay's advisory lock, for the kernel's default two hours: the server probes it.
    # (Off for poolers that refuse startup options; the relay needs session-level locks, so
    # a transaction-mode PgBouncer does not fit anyway.)
    if env.bool("DATABASE_TCP_KEEPALIVES", default=True):
        options = database.setdefault("OPTIONS", {})
        options["options"] = (
            options.get("options", "")
            + " -c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
            " -c tcp_user_timeout=30000"
        ).strip()
    database.setdefault("TEST", {})["NAME"] = f"test_{database['NAME']}"
    settings = base_settings(service_name=service_name, base_dir=base_dir)
    redis_url = settings["CACHES"]["default"]["LOCATION"]

    settings |= {
        "API_AREA": api_area,
        "APPEND_SLASH": False,
        "INSTALLED_APPS": [
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "whitenoise.runserver_nostatic",
            "django.contrib.staticfiles",
            "rest_framework",
            "drf_spectacular",
            "drf_spectacular_sidecar",
            "django_celery_beat",
            "ticketing_shared.events",
            *apps,
            *bench_apps(),
        ],
        "MIDDLEWARE": [
            "ticketing_shared.requestid.RequestIdMiddleware",
            "ticketing_shared.metrics.MetricsMiddleware",
            "django.middleware.security.SecurityMiddleware",
            "whitenoise.middleware.WhiteNoiseMiddleware",
            "ticketing_shared.errors.ApiErrorMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "ticketing_shared.admin_sso.AdminRevalidationMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        "DATABASES": {"default": database},
        "REST_FRAMEWORK": {
            "DEFAULT_AUTHENTICATION_CLASSES": ["ticketing_shared.auth.JWTAuthentication"],
            "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
            "DEFAULT_PAGINATION_CLASS": "ticketing_shared.pagination.Pagination",
            "PAGE_SIZE": 20,
            "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
            "EXCEPTION_HANDLER": "ticketing_shared.errors.exception_handler",
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
            "COERCE_DECIMAL_TO_STRING": True,
            "UNAUTHENTICATED_USER": None,
        },
        "SIMPLE_JWT": jwt_settings(debug=dev),
        "SPECTACULAR_SETTINGS": {
            "TITLE": f"Ticketing {service_name} API",
            "VERSION": "1.0.0",
            "SERVE_INCLUDE_SCHEMA": False,
            "SWAGGER_UI_DIST": "SIDECAR",
            "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
            "REDOC_DIST": "SIDECAR",
            "COMPONENT_SPLIT_REQUEST": True,
            # Every operation's failures, with the one error shape (ticketing_shared.openapi).
            "POSTPROCESSING_HOOKS": [
                "drf_spectacular.hooks.postprocess_schema_enums",
                "ticketing_shared.openapi.error_responses",
            ],
            "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
            "SERVE_AUTHENTICATION": [],
        },
        "KAFKA": kafka_settings(debug=dev),
        "OUTBOX": {
            "BATCH_SIZE": env.int("OUTBOX_BATCH_SIZE", default=1000),
            "RELAY_INTERVAL_SECONDS": env.float("OUTBOX_RELAY_INTERVAL_SECONDS", default=2.0),
            "RETENTION_HOURS": outbox_retention_hours(),
            "NUDGE_ON_COMMIT": env.bool("OUTBOX_NUDGE_ON_COMMIT", default=True),
        },
        # Where the consumer, worker and beat touch their liveness files (ticketing_shared.heartbeat):
        # a writable folder of the process's own machine or pod.
        "HEARTBEAT_DIR": env.str("HEARTBEAT_DIR", default=str(Path(tempfile.gettempdir()) / "ticketing-heartbeats")),
        "CONSUMER": {
            "RETRY_ATTEMPTS": env.int("CONSUMER_RETRY_ATTEMPTS", default=5),
            # An early event waits this long for the one it builds on before it is dead-lettered.
            "EARLY_EVENT_MAX_WAIT_SECONDS": env.float("CONSUMER_EARLY_EVENT_MAX_WAIT_SECONDS", default=3600.0),
            "RETRY_BACKOFF_SECONDS": env.float("CONSUMER_RETRY_BACKOFF_SECONDS", default=0.2),
            "RETRY_BACKOFF_MAX_SECONDS": env.float("CONSUMER_RETRY_BACKOFF_MAX_SECONDS", default=5.0),
            "MAX_CONSECUTIVE_FAILURES": env.int("CONSUMER_MAX_CONSECUTIVE_FAILURES", default=10),
            # How often a consumer looks for parked events that are due (sooner when one applied).
            "PARKED_POLL_SECONDS": env.float("CONSUMER_PARKED_POLL_SECONDS", default=0.5),
            "INBOX_RETENTION_DAYS": inbox_retention_days(),
            # A consumer whose group membership stays unsettled this long gives up, so that its
            # supervisor starts a fresh one (ticketing_shared.events.membership); 0: never.
            "REJOIN_TIMEOUT_SECONDS": env.float("CONSUMER_REJOIN_TIMEOUT_SECONDS", default=60.0),
        },
        # Admin sign-in with the auth service's staff accounts (the auth service overrides this).
        "AUTHENTICATION_BACKENDS": ["ticketing_shared.admin_sso.AuthServiceBackend"],
        "AUTH_SERVICE_URL": env.str("AUTH_SERVICE_URL", default="http://127.0.0.1:8001" if dev else ""),
        "AUTH_SERVICE_TIMEOUT_SECONDS": env.float("AUTH_SERVICE_TIMEOUT_SECONDS", default=5.0),
        # An admin session asks the auth service again whether its operator is still staff once
        # its last answer is this old; while the auth service cannot answer, the session lives on
        # for the grace on top, then ends (ticketing_shared.admin_sso).
        "ADMIN_REVALIDATE_SECONDS": env.float("ADMIN_REVALIDATE_SECONDS", default=60.0),
        "ADMIN_REVALIDATE_GRACE_SECONDS": env.float("ADMIN_REVALIDATE_GRACE_SECONDS", default=60.0),
        # With JWT_JWKS_URL: refresh the key set in the background once it is this old, and give
        # each fetch this long (ticketing_shared.auth.JwksCache).
        "JWT_JWKS_CACHE_SECONDS": env.float("JWT_JWKS_CACHE_SECONDS", default=300.0),
        "JWT_JWKS_TIMEOUT_SECONDS": env.float("JWT_JWKS_TIMEOUT_SECONDS", default=2.0),
        "CELERY_BROKER_URL": env.str("CELERY_BROKER_URL", default=redis_url),
        "CELERY_TASK_IGNORE_RESULT": True,
        "CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP": True,
        "CELERY_WORKER_HIJACK_ROOT_LOGGER": False,
        "CELERY_TIMEZONE": "UTC",
        "CELERY_BEAT_SCHEDULE": {},
        "SILENCED_SYSTEM_CHECKS": [],
    }
    return settings


def jwt_settings(*, debug: bool) -> dict[str, Any]:
    """RS256 everywhere: only the auth service holds the private key.

    Other services verify with the public key, given as a PEM (file or value) or
    fetched from the auth service's JWKS URL (``ticketing_shared.auth.JwksCache`` keeps it,
    serving the last good keys while the auth service is away). In development
    and tests without configured keys an ephemeral pair is generated per process.
    """
    private_key = _read_key("JWT_PRIVATE_KEY")
    public_key = _read_key("JWT_PUBLIC_KEY")
    jwks_url = env.str("JWT_JWKS_URL", default="") or None
    if not public_key and private_key:
        public_key = public_key_of(private_key)
    if not public_key and not jwks_url:
        if not debug:
            raise ImproperlyConfigured("Set JWT_PUBLIC_KEY(_FILE) or JWT_JWKS_URL to verify access tokens")
        private_key, public_key = _ephemeral_key_pair()
    return {
        "ALGORITHM": "RS256",
        "SIGNING_KEY": private_key or "",
        "VERIFYING_KEY": public_key or "",
        "JWK_URL": None if public_key else jwks_url,
        "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_TOKEN_SECONDS", default=15 * 60)),
        "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_REFRESH_TOKEN_SECONDS", default=7 * 24 * 3600)),
        "ROTATE_REFRESH_TOKENS": True,
        "BLACKLIST_AFTER_ROTATION": True,
        "UPDATE_LAST_LOGIN": True,
        "ISSUER": env.str("JWT_ISSUER", default="ticketing-auth"),
        "AUDIENCE": None,
        "LEEWAY": 5,
        "USER_ID_FIELD": "id",
        "USER_ID_CLAIM": "user_id",
        "TOKEN_USER_CLASS": "ticketing_shared.auth.ServiceUser",
        "AUTH_TOKEN_CLASSES": ("ticketing_shared.auth.ServiceAccessToken",),
        "AUTH_HEADER_TYPES": ("Bearer",),
    }


def _read_key(name: str) -> str:
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text()
    return env.str(name, default="").replace("\\n", "\n")


def public_key_of(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


_EPHEMERAL: tuple[str, str] | None = None


def _ephemeral_key_pair() -> tuple[str, str]:
    global _EPHEMERAL
    if _EPHEMERAL is None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        _EPHEMERAL = (private, public_key_of(private))
    return _EPHEMERAL


def kafka_settings(*, debug: bool) -> dict[str, Any]:
    """librdkafka settings; the low timeouts of the local run come from the environment."""
    bootstrap = env.str("KAFKA_BOOTSTRAP_SERVERS", default="127.0.0.1:9092" if debug else "")
    if not bootstrap:
        raise ImproperlyConfigured("KAFKA_BOOTSTRAP_SERVERS must be set in production")
    common = {"bootstrap.servers": bootstrap}
    security = env.str("KAFKA_SECURITY_PROTOCOL", default="")
    if security:
        common["security.protocol"] = security
    for setting, name in (
        ("sasl.mechanism", "KAFKA_SASL_MECHANISM"),
        ("sasl.username", "KAFKA_SASL_USERNAME"),
        ("sasl.password", "KAFKA_SASL_PASSWORD"),
        ("ssl.ca.location", "KAFKA_SSL_CA_LOCATION"),
    ):
        value = env.str(name, default="")
        if value:
            common[setting] = value
    return {
        "COMMON": common,
        "PRODUCER": {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": env.int("KAFKA_LINGER_MS", default=2),
            "message.timeout.ms": env.int("KAFKA_MESSAGE_TIMEOUT_MS", default=30000),
        },
        "CONSUMER": {
            # Offsets are stored only once an event's transaction committed
            # (ConsumerRunner._done) and librdkafka commits the stored ones every interval, on
            # a rebalance and on close: one offset commit per second instead of one per event.
            # A crash redelivers at most that second's events, which the inbox makes harmless.
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "auto.commit.interval.ms": env.int("KAFKA_AUTO_COMMIT_INTERVAL_MS", default=1000),
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": env.int("KAFKA_FETCH_WAIT_MAX_MS", default=100),
            "session.timeout.ms": env.int("KAFKA_SESSION_TIMEOUT_MS", default=45000),
            "max.poll.interval.ms": env.int("KAFKA_MAX_POLL_INTERVAL_MS", default=300000),
            "topic.metadata.refresh.interval.ms": env.int("KAFKA_METADATA_REFRESH_MS", default=5000),
            # How often librdkafka reports the group membership the runner watches.
            "statistics.interval.ms": env.int("KAFKA_STATISTICS_INTERVAL_MS", default=5000),
        },
        "FLUSH_TIMEOUT_SECONDS": env.float("KAFKA_FLUSH_TIMEOUT_SECONDS", default=20.0),
        # Partitions of the topics the relay creates (one per event type): the most consumers
        # of one group that can share a topic. Existing topics keep theirs.
        "PARTITIONS": env.int("KAFKA_TOPIC_PARTITIONS", default=3),
    }


def logging_settings(service_name: str) -> dict[str, Any]:
    """One line per log event on stderr: JSON by default, plain for a developer's terminal.

    Every line names the service and the request id (``requestid``), so one purchase
    can be followed across services with one grep.
    """
    log_format = env.str("SERVICE_LOG_FORMAT", default="json")
    if log_format not in ("json", "plain"):
        raise ImproperlyConfigured("SERVICE_LOG_FORMAT must be json or plain")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "ticketing_shared.requestid.RequestIdLogFilter"}},
        "formatters": {
            "plain": {"format": f"%(asctime)s %(levelname)s {service_name} [%(request_id)s] %(name)s: %(message)s"},
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
                "static_fields": {"service": service_name},
            },
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request_id"]},
        },
        "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "celery.beat": {"level": "WARNING"},
            # one line per relay run every few seconds would drown everything else
            "celery.app.trace": {"level": "WARNING"},
            "celery.worker.strategy": {"level": "WARNING"},
        },
    }
