"""Orders service settings: the shared ones, plus the reservation window."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from ticketing_shared.conf import env, service_settings

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    service_settings(
        service_name="orders",
        api_area="orders",
        base_dir=BASE_DIR,
        apps=["orders"],
    )
)

# How long a new order holds its ticket before it expires (15 minutes by default).
ORDER_EXPIRATION_SECONDS = env.int("ORDER_EXPIRATION_SECONDS", default=900)
if ORDER_EXPIRATION_SECONDS <= 0:
    raise ImproperlyConfigured("ORDER_EXPIRATION_SECONDS must be a positive number of seconds")
