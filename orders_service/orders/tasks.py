"""Celery tasks of the orders service (found by the app's autodiscovery)."""

from orders.notifications import send_notifications

__all__ = ["send_notifications"]
