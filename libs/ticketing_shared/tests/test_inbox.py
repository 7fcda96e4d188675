"""The inbox keeps applied event ids for INBOX_RETENTION_DAYS, then forgets them."""

import uuid
from datetime import timedelta

import pytest
from celery import _state as celery_state
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from ticketing_shared.celery_app import make_celery_app
from ticketing_shared.conf import inbox_retention_days
from ticketing_shared.events import inbox, tasks
from ticketing_shared.events.models import ProcessedEvent, PrunedEventCount

pytestmark = pytest.mark.django_db


def applied(days_ago: float, count: int = 1, event_type: str = "widget.created") -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    ProcessedEvent.objects.bulk_create(ProcessedEvent(event_id=i, type=event_type) for i in ids)
    ProcessedEvent.objects.filter(event_id__in=ids).update(processed_at=timezone.now() - timedelta(days=days_ago))
    return ids


def test_ids_past_the_retention_are_pruned_in_batches_and_recent_ones_kept(settings):
    settings.CONSUMER = {**settings.CONSUMER, "INBOX_RETENTION_DAYS": 30}
    old = applied(31, count=5)
    kept = applied(29, count=2) + applied(0)

    assert inbox.prune_inbox(batch_size=2) == 5  # three DELETEs: 2, 2, 1

    assert set(ProcessedEvent.objects.values_list("event_id", flat=True)) == set(kept)
    assert not ProcessedEvent.objects.filter(event_id__in=old).exists()
    assert tasks.prune_inbox() == 0  # the beat's task: nothing left to forget


def test_a_run_forgets_at_most_its_batches_oldest_first_and_the_next_run_goes_on(settings):
    settings.CONSUMER = {**settings.CONSUMER, "INBOX_RETENTION_DAYS": 30}
    oldest, old = applied(50, count=4), applied(40)

    assert inbox.prune_inbox(batch_size=2, max_batches=2) == 4

    assert list(ProcessedEvent.objects.filter(processed_at__lt=timezone.now() - timedelta(days=30))
                .values_list("event_id", flat=True)) == old
    assert not ProcessedEvent.objects.filter(event_id__in=oldest).exists()
    assert inbox.prune_inbox(batch_size=2, max_batches=2) == 1


def test_the_prune_walks_the_processed_at_index_not_the_table():
    applied(40, count=3)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned anyway
        sql = inbox.PRUNE_SQL.format(table="events_processed", pruned="events_inbox_pruned")
        cursor.execute("EXPLAIN " + sql, [timezone.now(), 10])  # planned, not run
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan using events_processed_at_idx" in plan, plan


def test_every_service_worker_prunes_the_inbox_hourly():
    previous = celery_state.get_current_app()
    try:
        app = make_celery_app("shared-test")
    finally:
        previous.set_current()

    assert app.conf.beat_schedule["prune-inbox"] == {"task": "events.prune_inbox", "schedule": 3600.0}


def test_a_retention_shorter_than_the_outboxs_is_refused(monkeypatch):
    monkeypatch.setenv("OUTBOX_RETENTION_HOURS", "168")
    monkeypatch.setenv("INBOX_RETENTION_DAYS", "7")
    with pytest.raises(ImproperlyConfigured, match=r"INBOX_RETENTION_DAYS \(7\) must be longer than OUTBOX_RET"):
        inbox_retention_days()

    monkeypatch.setenv("INBOX_RETENTION_DAYS", "8")
    assert inbox_retention_days() == 8.0
    monkeypatch.delenv("INBOX_RETENTION_DAYS")
    assert inbox_retention_days() == 30.0


def test_the_consumed_counter_never_goes_down_when_ids_are_pruned(client, settings):
    """``events_consumed_total`` is a counter (dashboards take its rate): the pruned ids are
    counted per type and added to the ids still held."""
    settings.CONSUMER = {**settings.CONSUMER, "INBOX_RETENTION_DAYS": 30}
    applied(40, count=3)
    applied(35, count=2, event_type="widget.updated")
    applied(1, count=4)

    def consumed() -> dict[str, str]:
        lines = client.get("/metrics").content.decode().splitlines()
        counters = [line for line in lines if line.startswith("events_consumed_total{")]
        return {line.split('"')[1]: line.rsplit(" ", 1)[1] for line in counters}

    before = consumed()
    assert before == {"widget.created": "7.0", "widget.updated": "2.0"}

    assert inbox.prune_inbox(batch_size=2) == 5
    assert dict(PrunedEventCount.objects.values_list("type", "count")) == {"widget.created": 3, "widget.updated": 2}
    assert consumed() == before

    applied(50)  # one more forgotten later adds to its type's total
    assert inbox.prune_inbox() == 1
    assert PrunedEventCount.objects.get(type="widget.created").count == 4
    assert consumed() == {"widget.created": "8.0", "widget.updated": "2.0"}
