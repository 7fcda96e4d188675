"""Wake-ups: a deadline closer than the next poll gets a run queued for its own time."""

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from expirations import wakeups
from expirations.tasks import fire_due
from tests.conftest import order_created_data
from tests.factories import ExpirationFactory, due

pytestmark = pytest.mark.django_db


def test_a_deadline_within_the_poll_interval_gets_a_run_at_its_step(wakeups_on, settings):
    step = settings.EXPIRATION["WAKEUP_STEP_SECONDS"]
    at = timezone.now() + timedelta(seconds=0.42)

    assert wakeups.request_wakeup(at=at) is True

    [queued] = wakeups_on
    expected = math.ceil(at.timestamp() / step) * step
    assert queued["eta"].timestamp() == pytest.approx(expected)
    assert 0 <= (queued["eta"] - at).total_seconds() < step
    assert queued["expires"] > queued["eta"]


def test_deadlines_in_the_same_step_share_one_run(wakeups_on, settings):
    step = settings.EXPIRATION["WAKEUP_STEP_SECONDS"]
    start = (math.floor(timezone.now().timestamp() / step) + 3) * step
    first = datetime.fromtimestamp(start + step * 0.2, UTC)
    second = datetime.fromtimestamp(start + step * 0.8, UTC)
    later = datetime.fromtimestamp(start + step * 1.5, UTC)

    assert wakeups.request_wakeup(at=first) is True
    assert wakeups.request_wakeup(at=second) is False
    assert wakeups.request_wakeup(at=later) is True
    assert len(wakeups_on) == 2


def test_a_deadline_beyond_the_next_poll_is_left_to_the_poll(wakeups_on, settings):
    interval = settings.EXPIRATION["POLL_INTERVAL_SECONDS"]

    assert wakeups.request_wakeup(at=timezone.now() + timedelta(seconds=interval + 0.5)) is False
    assert wakeups_on == []


def test_a_passed_deadline_gets_a_run_right_away(wakeups_on, settings):
    before = timezone.now()

    assert wakeups.request_wakeup(at=before - timedelta(minutes=5)) is True

    [queued] = wakeups_on
    assert before <= queued["eta"] <= timezone.now() + timedelta(seconds=settings.EXPIRATION["WAKEUP_STEP_SECONDS"])


def test_wakeups_turned_off_queue_nothing(wakeups_on, settings):
    settings.EXPIRATION = {**settings.EXPIRATION, "WAKEUPS": False}

    assert wakeups.request_wakeup(at=timezone.now()) is False
    assert wakeups_on == []


def test_redis_being_down_costs_only_latency(wakeups_on, monkeypatch):
    def unavailable(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(cache, "add", unavailable)

    assert wakeups.request_wakeup(at=timezone.now()) is False
    assert wakeups_on == []


def test_order_created_with_a_close_deadline_queues_a_run_after_commit(
    wakeups_on, deliver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        deliver("order.created", order_created_data(expires_at=timezone.now() + timedelta(milliseconds=300)))
    assert len(wakeups_on) == 1


def test_order_created_with_a_far_deadline_queues_nothing(wakeups_on, deliver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deliver("order.created", order_created_data(expires_at=timezone.now() + timedelta(minutes=15)))
    assert wakeups_on == []


def test_a_run_queues_the_next_close_deadline(wakeups_on):
    ExpirationFactory(**due())
    upcoming = ExpirationFactory(expires_at=timezone.now() + timedelta(milliseconds=400))

    assert fire_due.apply().get() == 1

    [queued] = wakeups_on
    assert queued["eta"] >= upcoming.expires_at


def test_a_run_with_nothing_close_queues_nothing(wakeups_on):
    ExpirationFactory(order_id=uuid.uuid4(), expires_at=timezone.now() + timedelta(minutes=15))

    assert fire_due.apply().get() == 0
    assert wakeups_on == []
