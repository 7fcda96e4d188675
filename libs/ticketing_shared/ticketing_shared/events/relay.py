"""Draining the outbox into Kafka.

Each round claims a batch in a short transaction (a lease on the rows), produces
it outside any transaction, and marks the acknowledged rows published in a second
short transaction. A relay that dies mid-round leaves its rows leased; when the
lease runs out another relay sends them again (at least once; consumers dedupe).

Claims are serialised by an advisory lock and skip every aggregate that has rows
leased by another relay, so one aggregate's events leave in commit order even
with several relays running at once.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from ticketing_shared.events.kafka import get_producer
from ticketing_shared.events.models import OutboxEvent

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key: serialises claims of this database's outbox.
_CLAIM_LOCK_KEY = 0x7469636B6574  # "ticket"


@dataclass(frozen=True)
class Claimed:
    seq: int
    id: str  # noqa: A003
    aggregateid: str
    type: str  # noqa: A003
    value: str
    headers: list[tuple[str, str]]


def _claim(*, batch_size: int, lease_seconds: int, relay_id: uuid.UUID) -> list[Claimed]:
    table = OutboxEvent._meta.db_table
    source = settings.SERVICE_NAME
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CLAIM_LOCK_KEY])
        cursor.execute(
            f"""
            WITH busy AS (
                SELECT DISTINCT aggregateid FROM {table}
                WHERE published_at IS NULL AND locked_until > now()
            ), batch AS (
                SELECT seq FROM {table}
                WHERE published_at IS NULL
                  AND (locked_until IS NULL OR locked_until <= now())
                  AND aggregateid NOT IN (SELECT aggregateid FROM busy)
                ORDER BY seq
                LIMIT %s
                FOR UPDATE SKIP LOCKED
            )
            UPDATE {table} AS o
            SET locked_until = now() + make_interval(secs => %s), claimed_by = %s
            FROM batch WHERE o.seq = batch.seq
            RETURNING o.seq, o.id::text, o.aggregateid, o.type,
                json_build_object(
                    'id', o.id, 'type', o.type, 'occurred_at', o.occurred_at,
                    'source', %s::text, 'data', o.payload
                )::text,
                o.headers::text
            """,
            [batch_size, lease_seconds, relay_id, source],
        )
        rows = cursor.fetchall()
    rows.sort(key=lambda row: row[0])
    return [
        Claimed(seq=seq, id=event_id, aggregateid=key, type=event_type, value=value,
                headers=_kafka_headers(event_id, event_type, headers))
        for seq, event_id, key, event_type, value, headers in rows
    ]


def _kafka_headers(event_id: str, event_type: str, extra_json: str) -> list[tuple[str, str]]:
    headers = [("id", event_id), ("type", event_type)]
    extra = json.loads(extra_json) if extra_json else {}
    headers += [(str(name), str(value)) for name, value in extra.items() if name not in ("id", "type")]
    return headers


def _mark(*, published: list[int], released: list[int], relay_id: uuid.UUID) -> None:
    table = OutboxEvent._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if published:
            cursor.execute(
                f"UPDATE {table} SET published_at = now(), locked_until = NULL "
                f"WHERE seq = ANY(%s) AND claimed_by = %s",
                [published, relay_id],
            )
        if released:
            cursor.execute(
                f"UPDATE {table} SET locked_until = NULL WHERE seq = ANY(%s) AND claimed_by = %s "
                f"AND published_at IS NULL",
                [released, relay_id],
            )


def _produce(batch: list[Claimed]) -> tuple[list[int], list[int]]:
    """Send a batch; return (acknowledged seqs, failed seqs)."""
    producer = get_producer()
    acked: list[int] = []
    failed: list[int] = []

    def on_delivery(seq: int):
        def report(err, _msg) -> None:
            if err is None:
                acked.append(seq)
            else:
                logger.error("Outbox event %s not delivered: %s", seq, err)
                failed.append(seq)

        return report

    for row in batch:
        while True:
            try:
                producer.produce(
                    row.type, key=row.aggregateid, value=row.value, headers=row.headers,
                    on_delivery=on_delivery(row.seq),
                )
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.1)
    remaining = producer.flush(settings.KAFKA["FLUSH_TIMEOUT_SECONDS"])
    if remaining:
        logger.error("%d outbox events still in flight after flush timeout", remaining)
    pending = {row.seq for row in batch} - set(acked) - set(failed)
    return acked, failed + sorted(pending)


def relay_outbox(*, batch_size: int | None = None, max_seconds: float = 30.0) -> int:
    """Publish pending outbox events until none is left or time is up; return the count."""
    batch_size = batch_size or settings.OUTBOX["BATCH_SIZE"]
    lease = settings.OUTBOX["LEASE_SECONDS"]
    relay_id = uuid.uuid4()
    deadline = time.monotonic() + max_seconds
    published = 0
    while time.monotonic() < deadline:
        batch = _claim(batch_size=batch_size, lease_seconds=lease, relay_id=relay_id)
        if not batch:
            break
        acked, failed = _produce(batch)
        _mark(published=acked, released=failed, relay_id=relay_id)
        published += len(acked)
        if failed:
            break
    if published:
        logger.debug("Relayed %d outbox events", published)
    return published


def prune_outbox(*, older_than_hours: float | None = None) -> int:
    """Delete published events past the retention; pending ones are never touched."""
    from datetime import timedelta

    from django.utils import timezone

    hours = settings.OUTBOX["RETENTION_HOURS"] if older_than_hours is None else older_than_hours
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = OutboxEvent.objects.filter(published_at__lt=cutoff).delete()
    return deleted
