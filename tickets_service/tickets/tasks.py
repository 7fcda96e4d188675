"""Celery tasks of the tickets service (found by the app's autodiscovery)."""

from tickets.gifts import send_gift_emails

__all__ = ["send_gift_emails"]
