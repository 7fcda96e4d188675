"""Tickets service settings: the shared ones, plus PostgreSQL's search extensions."""

from pathlib import Path

from ticketing_shared.conf import env, service_settings
from ticketing_shared.mail import mail_settings

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    service_settings(
        service_name="tickets",
        api_area="tickets",
        base_dir=BASE_DIR,
        # django.contrib.postgres: the trigram index behind title search.
        apps=["django.contrib.postgres", "tickets"],
    )
)

# The email to whoever claims a gift (tickets.gifts): sent after commit, retried by beat.
globals().update(mail_settings(base_dir=BASE_DIR))
NOTIFICATIONS_RETRY_SECONDS = env.int("NOTIFICATIONS_RETRY_SECONDS", default=60)

CELERY_BEAT_SCHEDULE = {
    "send-gift-emails": {"task": "tickets.send_gift_emails", "schedule": float(NOTIFICATIONS_RETRY_SECONDS)},
}
