"""Firing passed deadlines: once each, through the outbox, whatever runs at the same time."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from expirations import services
from expirations.models import Expiration
from tests.factories import ExpirationFactory, due
from ticketing_shared.events.models import OutboxEvent


@pytest.mark.django_db
def test_a_due_expiration_fires_and_a_future_one_does_not(outbox):
    passed = ExpirationFactory(**due())
    ahead = ExpirationFactory(expires_at=timezone.now() + timedelta(seconds=30))

    assert services.expirations_fire_due() == 1

    assert outbox("expiration.complete") == [
        {"type": "expiration.complete", "aggregateid": str(passed.order_id), "data": {"order_id": str(passed.order_id)}}
    ]
    passed.refresh_from_db()
    ahead.refresh_from_db()
    assert passed.status == Expiration.Status.FIRED
    assert passed.fired_at >= passed.expires_at
    assert ahead.status == Expiration.Status.PENDING and ahead.fired_at is None


@pytest.mark.django_db
def test_running_again_after_a_run_publishes_nothing_more(outbox):
    """A task that crashed after its commit and is run again finds nothing left to fire."""
    ExpirationFactory.create_batch(3, **due())

    assert services.expirations_fire_due() == 3
    assert services.expirations_fire_due() == 0
    assert len(outbox("expiration.complete")) == 3


@pytest.mark.django_db
def test_a_run_that_dies_before_its_commit_fires_nothing_and_the_next_fires_all(outbox, monkeypatch):
    expirations = ExpirationFactory.create_batch(5, **due())
    real_publish = services.publish
    calls = []

    def dies_on_the_third(event, **options):
        calls.append(event)
        if len(calls) == 3:
            raise RuntimeError("worker killed mid-batch")
        return real_publish(event, **options)

    monkeypatch.setattr(services, "publish", dies_on_the_third)
    with pytest.raises(RuntimeError):
        services.expirations_fire_due()
    assert outbox("expiration.complete") == []
    assert Expiration.objects.filter(status=Expiration.Status.PENDING).count() == 5

    monkeypatch.setattr(services, "publish", real_publish)
    assert services.expirations_fire_due() == 5
    assert sorted(event["aggregateid"] for event in outbox("expiration.complete")) == sorted(
        str(expiration.order_id) for expiration in expirations
    )


@pytest.mark.django_db
def test_more_due_rows_than_a_batch_all_fire_in_one_run_earliest_first(outbox):
    now = timezone.now()
    expirations = [ExpirationFactory(expires_at=now - timedelta(seconds=n)) for n in range(1, 24)]

    assert services.expirations_fire_due(batch_size=5) == 23

    fired = [event["aggregateid"] for event in outbox("expiration.complete")]
    assert fired == [str(expiration.order_id) for expiration in reversed(expirations)]
    assert not Expiration.objects.filter(status=Expiration.Status.PENDING).exists()


@pytest.mark.django_db
def test_a_run_stops_claiming_when_its_time_is_up():
    ExpirationFactory.create_batch(6, **due())

    assert services.expirations_fire_due(batch_size=2, max_seconds=1e-9) == 2
    assert Expiration.objects.filter(status=Expiration.Status.PENDING).count() == 4


@pytest.mark.django_db
def test_fire_now_for_given_orders_fires_only_those_that_are_due(outbox):
    chosen = ExpirationFactory(**due())
    chosen_ahead = ExpirationFactory()
    other = ExpirationFactory(**due())

    assert services.expirations_fire_due(order_ids=[chosen.order_id, chosen_ahead.order_id]) == 1

    assert [event["aggregateid"] for event in outbox("expiration.complete")] == [str(chosen.order_id)]
    other.refresh_from_db()
    assert other.status == Expiration.Status.PENDING


@pytest.mark.django_db
def test_the_management_command_fires_what_is_due(outbox, capsys):
    ExpirationFactory.create_batch(2, **due())
    ExpirationFactory()

    call_command("fire_due_expirations", "--batch-size", "1")

    assert "2 expiration(s) fired" in capsys.readouterr().out
    assert len(outbox("expiration.complete")) == 2


@pytest.mark.django_db
def test_the_celery_task_fires_what_is_due(outbox):
    from expirations.tasks import fire_due

    ExpirationFactory(**due())

    assert fire_due.apply().get() == 1
    assert len(outbox("expiration.complete")) == 1


# -- concurrency, on real PostgreSQL at READ COMMITTED, with committed data ----------------


def _in_thread(target, results: list, barrier: threading.Barrier | None = None):
    def run():
        try:
            if barrier:
                barrier.wait(timeout=10)
            results.append(target())
        except BaseException as exc:  # reported by the test
            results.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_pollers_fire_every_row_exactly_once():
    rows = 1500
    now = timezone.now()
    Expiration.objects.bulk_create(
        Expiration(order_id=uuid.uuid4(), expires_at=now - timedelta(milliseconds=n)) for n in range(rows)
    )
    results: list = []
    barrier = threading.Barrier(2)
    threads = [_in_thread(lambda: services.expirations_fire_due(batch_size=25), results, barrier) for _ in range(2)]
    for thread in threads:
        thread.join(60)

    assert not any(isinstance(result, BaseException) for result in results), results
    assert sum(results) == rows
    assert all(fired > 0 for fired in results), f"the pollers did not overlap: {results}"
    keys = list(OutboxEvent.objects.filter(type="expiration.complete").values_list("aggregateid", flat=True))
    assert len(keys) == rows
    assert len(set(keys)) == rows
    assert Expiration.objects.filter(status=Expiration.Status.FIRED, fired_at__isnull=False).count() == rows


@pytest.mark.django_db(transaction=True)
def test_an_order_end_racing_a_poll_that_holds_the_row_leaves_it_fired_once(monkeypatch):
    expiration = ExpirationFactory(**due())
    real_publish = services.publish
    claimed, release = threading.Event(), threading.Event()

    def publish_slowly(event, **options):
        claimed.set()  # the row is locked and marked in the poll's open transaction
        assert release.wait(10)
        return real_publish(event, **options)

    monkeypatch.setattr(services, "publish", publish_slowly)
    poll_result: list = []
    poll = _in_thread(services.expirations_fire_due, poll_result)
    assert claimed.wait(10)

    end_result: list = []
    end = _in_thread(
        lambda: (
            services.expiration_stand_down(
                order_id=expiration.order_id, reason=Expiration.Status.ORDER_CANCELLED
            ).status
        ),
        end_result,
    )
    end.join(0.5)
    assert end.is_alive(), "the order's end should wait for the poll's row lock"
    release.set()
    poll.join(10)
    end.join(10)

    assert poll_result == [1]
    assert end_result == [Expiration.Status.FIRED]
    assert OutboxEvent.objects.filter(type="expiration.complete").count() == 1
