import uuid
from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone


@pytest.fixture(autouse=True)
def _no_wakeups(settings):
    """Wake-ups queue real Celery tasks; only the tests about them turn them on."""
    settings.EXPIRATION = {**settings.EXPIRATION, "WAKEUPS": False}


@pytest.fixture
def wakeups_on(settings, monkeypatch):
    """Turn wake-ups on and record the tasks they queue instead of sending them to a broker."""
    from expirations.tasks import fire_due

    settings.EXPIRATION = {**settings.EXPIRATION, "WAKEUPS": True}
    cache.clear()
    queued: list[dict] = []
    monkeypatch.setattr(fire_due, "apply_async", lambda **options: queued.append(options))
    yield queued
    cache.clear()


def order_created_data(*, order_id: uuid.UUID | None = None, expires_at: datetime | None = None) -> dict:
    """``order.created`` as the orders service publishes it (docs/events.md)."""
    expires_at = expires_at or timezone.now() + timedelta(minutes=15)
    return {
        "id": str(order_id or uuid.uuid4()),
        "status": "created",
        "user_id": str(uuid.uuid4()),
        "expires_at": expires_at.isoformat(),
        "version": 0,
        "ticket": {"id": str(uuid.uuid4()), "price": "20.00"},
    }


def order_ended_data(order_id: uuid.UUID, *, version: int = 1) -> dict:
    """``order.cancelled`` / ``order.completed`` (docs/events.md)."""
    return {"id": str(order_id), "version": version, "ticket": {"id": str(uuid.uuid4())}}
