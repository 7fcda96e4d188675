"""Web client settings, from the environment only.

The storefront keeps nothing but the browser session, which lives in Redis through
the cache, so there is no database (``DATABASES = {}``) and no Kafka: it builds on the
shared ``base_settings()``, not the backends' ``service_settings()``. Production values
that are missing fail loudly at start-up; development defaults apply only when
``DJANGO_DEBUG`` (or the test plugin's ``DJANGO_TESTING``) is on.
"""

from pathlib import Path

from ticketing_shared.conf import base_settings, env, required

BASE_DIR = Path(__file__).resolve().parent.parent

# Secrets and hosts, Redis as the cache, whitenoise, logging, secure cookies: as every project.
globals().update(base_settings(service_name="web", base_dir=BASE_DIR, redis_db=5))

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

# Short socket timeouts: a Redis hiccup must not hang a page.
CACHES["default"]["OPTIONS"] = {"socket_connect_timeout": 2, "socket_timeout": 2}  # noqa: F821 - base_settings
# The session holds the signed-in user and their access/refresh tokens, server-side only.
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=7 * 24 * 3600)  # the refresh token's lifetime
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
MESSAGE_TAGS = {40: "danger"}  # messages.ERROR, as Bootstrap's alert-danger

# The backend APIs (docs/api.md). Every call has a timeout; a service that does not answer
# in time is reported to the user as unavailable.
SERVICE_URLS = {
    "auth": required("AUTH_SERVICE_URL", "http://127.0.0.1:8001").rstrip("/"),
    "tickets": required("TICKETS_SERVICE_URL", "http://127.0.0.1:8002").rstrip("/"),
    "orders": required("ORDERS_SERVICE_URL", "http://127.0.0.1:8003").rstrip("/"),
    "payments": required("PAYMENTS_SERVICE_URL", "http://127.0.0.1:8004").rstrip("/"),
}
SERVICE_CONNECT_TIMEOUT_SECONDS = env.float("SERVICE_CONNECT_TIMEOUT_SECONDS", default=2.0)
SERVICE_READ_TIMEOUT_SECONDS = env.float("SERVICE_READ_TIMEOUT_SECONDS", default=10.0)
# A ticket or order reaches the orders and payments services through events, a moment
# after it was made; for that long a "not found" is retried before it is believed.
SERVICE_PROPAGATION_WAIT_SECONDS = env.float("SERVICE_PROPAGATION_WAIT_SECONDS", default=3.0)

# Card data goes from the browser straight to Stripe: the page loads Stripe.js from
# Stripe (localstripe's stand-in in the local run) and posts us only a token.
STRIPE_PUBLISHABLE_KEY = required("STRIPE_PUBLISHABLE_KEY", "pk_test_local")
STRIPE_JS_URL = env.str("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
# Payments go to a Stripe test double (a trial install): every page says so, and no card
# is charged.
STRIPE_TEST_MODE = env.bool("STRIPE_TEST_MODE", default=False)
CURRENCY_SYMBOL = "$"  # prices are in US dollars, as the payments service charges them

USE_I18N = False

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
