"""The beat polls every interval, and a tick nobody picked up in time is dropped."""

import pytest
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from config.celery import app


def test_the_beat_schedule_polls_every_interval(settings):
    entry = app.conf.beat_schedule["fire-due-expirations"]

    assert entry["task"] == "expirations.fire_due"
    assert entry["schedule"] == settings.EXPIRATION["POLL_INTERVAL_SECONDS"]
    assert "expirations.fire_due" in app.tasks


@pytest.mark.django_db(transaction=True)  # the scheduler closes connections in a transaction
def test_django_celery_beat_sends_the_poll_with_an_expiry(settings):
    """The devstack and the chart run ``-S django_celery_beat.schedulers:DatabaseScheduler``."""
    scheduler = DatabaseScheduler(app=app, lazy=False)

    stored = PeriodicTask.objects.get(name="fire-due-expirations")
    interval = settings.EXPIRATION["POLL_INTERVAL_SECONDS"]
    assert stored.task == "expirations.fire_due"
    assert stored.interval.every == interval and stored.interval.period == "seconds"
    assert scheduler.schedule["fire-due-expirations"].options["expires"] == 2 * interval
