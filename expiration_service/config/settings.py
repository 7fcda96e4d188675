"""Expiration service settings: the shared ones, plus how often and how precisely deadlines fire.

The reservation window itself (``ORDER_EXPIRATION_SECONDS``) belongs to the orders
service: each ``order.created`` carries its own ``expires_at``, which is what fires here.
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from ticketing_shared.conf import env, service_settings

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    service_settings(
        service_name="expiration",
        api_area=None,
        base_dir=BASE_DIR,
        apps=["expirations"],
    )
)

EXPIRATION = {
    # The beat's poll: the durable guarantee that every passed deadline fires. Whole
    # seconds, because django-celery-beat stores intervals as integers.
    "POLL_INTERVAL_SECONDS": env.int("EXPIRATION_POLL_INTERVAL_SECONDS", default=1),
    # Deadlines closer than the next poll get a Celery wake-up at their own time,
    # rounded up to this step so that deadlines close together share one run.
    "WAKEUPS": env.bool("EXPIRATION_WAKEUPS", default=True),
    "WAKEUP_STEP_SECONDS": env.float("EXPIRATION_WAKEUP_STEP_SECONDS", default=0.1),
    # Rows claimed (and events written) per transaction.
    "BATCH_SIZE": env.int("EXPIRATION_BATCH_SIZE", default=500),
    # One run stops claiming after this long and leaves the rest to the next one.
    "MAX_RUN_SECONDS": env.float("EXPIRATION_MAX_RUN_SECONDS", default=30.0),
}
if EXPIRATION["POLL_INTERVAL_SECONDS"] < 1:
    raise ImproperlyConfigured("EXPIRATION_POLL_INTERVAL_SECONDS must be a whole number of seconds, at least 1")
if not 0 < EXPIRATION["WAKEUP_STEP_SECONDS"] <= EXPIRATION["POLL_INTERVAL_SECONDS"]:
    raise ImproperlyConfigured("EXPIRATION_WAKEUP_STEP_SECONDS must be above 0 and at most the poll interval")
if EXPIRATION["BATCH_SIZE"] < 1 or EXPIRATION["MAX_RUN_SECONDS"] <= 0:
    raise ImproperlyConfigured("EXPIRATION_BATCH_SIZE and EXPIRATION_MAX_RUN_SECONDS must be positive")

CELERY_BEAT_SCHEDULE = {
    "fire-due-expirations": {
        "task": "expirations.fire_due",
        "schedule": float(EXPIRATION["POLL_INTERVAL_SECONDS"]),
        # A tick nobody picked up in time is dropped, so a stalled worker does not
        # come back to a pile of identical polls. django-celery-beat's scheduler reads
        # ``expire_seconds``; Celery's own scheduler reads ``expires``.
        "options": {
            "expire_seconds": 2 * EXPIRATION["POLL_INTERVAL_SECONDS"],
            "expires": 2.0 * EXPIRATION["POLL_INTERVAL_SECONDS"],
        },
    },
}
