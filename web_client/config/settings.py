"""Web client settings, from the environment only.

The storefront keeps nothing but the browser session, which lives in Redis through
the cache, so there is no database (``DATABASES = {}``) and no Kafka: the backend
``service_settings()`` does not fit. Production values that are missing fail loudly
at start-up; development defaults apply only when ``DJANGO_DEBUG`` (or the test
plugin's ``DJANGO_TESTING``) is on.
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from ticketing_shared.conf import env, logging_settings

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env.bool("DJANGO_DEBUG", default=False)
TESTING = env.bool("DJANGO_TESTING", default=False)


def _required(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG or TESTING:
        return dev_default
    raise ImproperlyConfigured(f"{name} must be set in production")


SERVICE_NAME = "web"
SECRET_KEY = _required("DJANGO_SECRET_KEY", "dev-insecure-web")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["*"] if DEBUG or TESTING else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.messages",
    "storefront",
]

MIDDLEWARE = [
    "ticketing_shared.requestid.RequestIdMiddleware",
    "ticketing_shared.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "storefront.middleware.ServiceErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.messages.context_processors.messages",
                "storefront.context_processors.storefront",
            ]
        },
    }
]

# No database of our own: the services own all data.
DATABASES: dict = {}

REDIS_URL = _required("REDIS_URL", "redis://127.0.0.1:6379/5")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": SERVICE_NAME,
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}
# The session holds the signed-in user and their access/refresh tokens, server-side only.
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=7 * 24 * 3600)  # the refresh token's lifetime
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
MESSAGE_TAGS = {40: "danger"}  # messages.ERROR, as Bootstrap's alert-danger

# The backend APIs (SPEC §3). Every call has a timeout; a service that does not answer
# in time is reported to the user as unavailable.
SERVICE_URLS = {
    "auth": _required("AUTH_SERVICE_URL", "http://127.0.0.1:8001").rstrip("/"),
    "tickets": _required("TICKETS_SERVICE_URL", "http://127.0.0.1:8002").rstrip("/"),
    "orders": _required("ORDERS_SERVICE_URL", "http://127.0.0.1:8003").rstrip("/"),
    "payments": _required("PAYMENTS_SERVICE_URL", "http://127.0.0.1:8004").rstrip("/"),
}
SERVICE_CONNECT_TIMEOUT_SECONDS = env.float("SERVICE_CONNECT_TIMEOUT_SECONDS", default=2.0)
SERVICE_READ_TIMEOUT_SECONDS = env.float("SERVICE_READ_TIMEOUT_SECONDS", default=10.0)
# A ticket or order reaches the orders and payments services through events, a moment
# after it was made; for that long a "not found" is retried before it is believed.
SERVICE_PROPAGATION_WAIT_SECONDS = env.float("SERVICE_PROPAGATION_WAIT_SECONDS", default=3.0)

# Card data goes from the browser straight to Stripe: the page loads Stripe.js from
# Stripe (localstripe's stand-in in the local run) and posts us only a token.
STRIPE_PUBLISHABLE_KEY = _required("STRIPE_PUBLISHABLE_KEY", "pk_test_local")
STRIPE_JS_URL = env.str("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
CURRENCY_SYMBOL = "$"  # prices are in US dollars, as the payments service charges them

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING
WHITENOISE_AUTOREFRESH = DEBUG or TESTING

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = logging_settings(SERVICE_NAME)

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG and not TESTING:
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
