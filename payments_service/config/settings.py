"""Payments service settings: the shared ones, plus Stripe and the payment bookkeeping."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from ticketing_shared import idempotency
from ticketing_shared.conf import env, service_settings

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    service_settings(
        service_name="payments",
        api_area="payments",
        base_dir=BASE_DIR,
        apps=["payments", "ticketing_shared.idempotency"],
    )
)

_DEVELOPMENT = DEBUG or env.bool("DJANGO_TESTING", default=False)  # noqa: F821 - set by service_settings

STRIPE = {
    # Empty means Stripe itself; the local run and the tests point it at localstripe.
    "API_BASE": env.str("STRIPE_API_BASE", default=""),
    "SECRET_KEY": env.str("STRIPE_SECRET_KEY", default="sk_test_local" if _DEVELOPMENT else ""),
    "WEBHOOK_SECRET": env.str("STRIPE_WEBHOOK_SECRET", default="whsec_local" if _DEVELOPMENT else ""),
    # Seconds per HTTP call, and how often the SDK retries a call that failed on the network
    # (with its own idempotency key, so a retry never charges twice).
    "TIMEOUT_SECONDS": env.float("STRIPE_TIMEOUT_SECONDS", default=10.0),
    "MAX_NETWORK_RETRIES": env.int("STRIPE_MAX_NETWORK_RETRIES", default=1),
    # Prices are charged in this currency's smallest unit (cents for usd).
    "CURRENCY": env.str("PAYMENTS_CURRENCY", default="usd").lower(),
}
for _name, _setting in (("STRIPE_SECRET_KEY", "SECRET_KEY"), ("STRIPE_WEBHOOK_SECRET", "WEBHOOK_SECRET")):
    if not STRIPE[_setting]:
        raise ImproperlyConfigured(f"{_name} must be set in production")

# How long one request may own a payment attempt before another request (or the
# reconciliation sweep) may take it over. It must outlast the slowest attempt: up to
# three Stripe calls (customer, create, confirm), each with its network retries.
PAYMENT_ATTEMPT_LEASE_SECONDS = env.int(
    "PAYMENT_ATTEMPT_LEASE_SECONDS",
    default=int(3 * (STRIPE["MAX_NETWORK_RETRIES"] + 1) * STRIPE["TIMEOUT_SECONDS"] + 30),
)
# How long a card's 3-D Secure step in the browser may take: the attempt stays ours (and its
# PaymentIntent alive) that long before the sweep cancels it as abandoned.
PAYMENT_AUTHENTICATION_SECONDS = env.int("PAYMENT_AUTHENTICATION_SECONDS", default=600)
# How often the sweep finishes what a crash or a Stripe outage left undone
# (refunds still due, attempts whose process died).
PAYMENTS_RECONCILE_INTERVAL_SECONDS = env.float("PAYMENTS_RECONCILE_INTERVAL_SECONDS", default=30.0)

CELERY_BEAT_SCHEDULE = {
    "payments-reconcile": {
        "task": "payments.reconcile",
        "schedule": PAYMENTS_RECONCILE_INTERVAL_SECONDS,
        "options": {"expires": PAYMENTS_RECONCILE_INTERVAL_SECONDS},
    },
    **idempotency.BEAT_SCHEDULE,
}

# The Stripe SDK logs every request and response at INFO: keep its warnings only.
LOGGING["loggers"]["stripe"] = {"level": env.str("STRIPE_LOG_LEVEL", default="WARNING")}  # noqa: F821
