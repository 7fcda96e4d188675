"""The expiration service's Celery tasks (firing lives with the wake-ups that queue it)."""

from expirations.wakeups import fire_due

__all__ = ["fire_due"]
