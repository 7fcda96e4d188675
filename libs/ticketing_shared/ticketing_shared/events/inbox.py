"""The inbox (``events_processed``): the ids of the events a service applied.

The consumer runner inserts an event's id in the transaction that applies it, so a
redelivery changes nothing. The ids are kept ``INBOX_RETENTION_DAYS`` (30), longer than
anything can send an event again (the broker's retention, ``republish_events`` from the
outbox), then pruned hourly by the worker, oldest first, so the table does not grow for
ever. What is pruned is counted per type (``events_inbox_pruned``), so that
``events_consumed_total`` never goes down.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ticketing_shared.events.models import ProcessedEvent, PrunedEventCount

PRUNE_BATCH = 10_000  # rows per statement: each is a short transaction next to the consumers' inserts
# A run forgets at most this many batches (a million ids), so the first run over a large
# backlog does not hold a worker thread for long; the next hourly run goes on.
PRUNE_MAX_BATCHES = 100
# One statement a batch: the oldest ids go, their count per type is added to the pruned
# totals, and it answers how many went.
PRUNE_SQL = (
    "WITH gone AS (DELETE FROM {table} WHERE event_id IN "
    "(SELECT event_id FROM {table} WHERE processed_at < %s ORDER BY processed_at LIMIT %s) RETURNING type), "
    "counted AS (INSERT INTO {pruned} (type, count) SELECT type, count(*) FROM gone GROUP BY type "
    "ON CONFLICT (type) DO UPDATE SET count = {pruned}.count + EXCLUDED.count) "
    "SELECT count(*) FROM gone"
)


def prune_inbox(
    *, older_than_days: float | None = None, batch_size: int = PRUNE_BATCH, max_batches: int = PRUNE_MAX_BATCHES
) -> int:
    """Forget the events applied longer ago than the retention, oldest first; returns how many."""
    days = settings.CONSUMER["INBOX_RETENTION_DAYS"] if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    sql = PRUNE_SQL.format(table=ProcessedEvent._meta.db_table, pruned=PrunedEventCount._meta.db_table)
    total = 0
    for _ in range(max_batches):
        with connection.cursor() as cursor:
            cursor.execute(sql, [cutoff, batch_size])
            (deleted,) = cursor.fetchone()
        total += deleted
        if deleted < batch_size:
            break
    return total


def consumed_per_type_sql() -> str:
    """Events applied per type since the service began: the ids held plus those pruned."""
    return (
        f"SELECT type, sum(n) FROM (SELECT type, count(*) AS n FROM {ProcessedEvent._meta.db_table} GROUP BY type "
        f"UNION ALL SELECT type, count FROM {PrunedEventCount._meta.db_table}) AS applied GROUP BY type"
    )
