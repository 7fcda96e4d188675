"""Orders service settings: the shared ones, plus the reservation window and the open-order limit."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from ticketing_shared import idempotency
from ticketing_shared.conf import env, service_settings
from ticketing_shared.mail import mail_settings

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    service_settings(
        service_name="orders",
        api_area="orders",
        base_dir=BASE_DIR,
        apps=["orders", "ticketing_shared.idempotency"],
    )
)

# How long a new order holds its ticket before it expires (15 minutes by default).
ORDER_EXPIRATION_SECONDS = env.int("ORDER_EXPIRATION_SECONDS", default=900)
if ORDER_EXPIRATION_SECONDS <= 0:
    raise ImproperlyConfigured("ORDER_EXPIRATION_SECONDS must be a positive number of seconds")

# How many unpaid orders (created or awaiting payment, not expired) one buyer may hold at
# once: without a limit one account could reserve every ticket of an event and keep them
# all off sale without paying, reserving each again as it expires.
MAX_OPEN_ORDERS_PER_USER = env.int("MAX_OPEN_ORDERS_PER_USER", default=3)
if MAX_OPEN_ORDERS_PER_USER <= 0:
    raise ImproperlyConfigured("MAX_OPEN_ORDERS_PER_USER must be a positive number of orders")

# Buyers' emails (orders.notifications): sent after commit, retried by beat.
globals().update(mail_settings(base_dir=BASE_DIR))
NOTIFICATIONS_RETRY_SECONDS = env.int("NOTIFICATIONS_RETRY_SECONDS", default=60)

CELERY_BEAT_SCHEDULE = {
    **idempotency.BEAT_SCHEDULE,
    "send-notifications": {"task": "orders.send_notifications", "schedule": float(NOTIFICATIONS_RETRY_SECONDS)},
}
