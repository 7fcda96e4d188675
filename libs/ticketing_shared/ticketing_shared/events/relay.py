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
from collections import deque
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
    id: str
    aggregateid: str
    type: str
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
    extra = json.loads(extra_json) if extra_json and extra_json != "{}" else {}
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


class _InFlight:
    """One claimed batch handed to the producer; delivery reports fill it in."""

    def __init__(self, batch: list[Claimed]) -> None:
        self.seqs = [row.seq for row in batch]
        self.acked: list[int] = []
        self.failed: list[int] = []

    def report(self, seq: int):
        def on_delivery(err, _msg) -> None:
            if err is None:
                self.acked.append(seq)
            else:
                logger.error("Outbox event %s not delivered: %s", seq, err)
                self.failed.append(seq)

        return on_delivery

    @property
    def complete(self) -> bool:
        return len(self.acked) + len(self.failed) == len(self.seqs)

    def unreported(self) -> list[int]:
        reported = set(self.acked) | set(self.failed)
        return [seq for seq in self.seqs if seq not in reported]


def _send(producer, batch: list[Claimed]) -> _InFlight:
    flight = _InFlight(batch)
    for row in batch:
        while True:
            try:
                producer.produce(
                    row.type, key=row.aggregateid, value=row.value, headers=row.headers,
                    on_delivery=flight.report(row.seq),
                )
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.05)
    producer.poll(0)
    return flight


def _settle(producer, flight: _InFlight, relay_id: uuid.UUID) -> bool:
    """Wait for a batch's delivery reports and record them; False if any failed."""
    deadline = time.monotonic() + settings.KAFKA["FLUSH_TIMEOUT_SECONDS"]
    while not flight.complete and time.monotonic() < deadline:
        producer.poll(0.01)
    failed = flight.failed + flight.unreported()
    if failed:
        logger.error("%d outbox events not acknowledged; they stay pending", len(failed))
    _mark(published=flight.acked, released=failed, relay_id=relay_id)
    return not failed


def relay_outbox(*, batch_size: int | None = None, max_seconds: float = 30.0) -> int:
    """Publish pending outbox events until none is left or time is up; return the count.

    The next batch is claimed while the broker acknowledges the previous one, so the
    database round trips overlap the network ones (two batches in flight at most).
    """
    batch_size = batch_size or settings.OUTBOX["BATCH_SIZE"]
    lease = settings.OUTBOX["LEASE_SECONDS"]
    relay_id = uuid.uuid4()
    producer = get_producer()
    deadline = time.monotonic() + max_seconds
    in_flight: deque[_InFlight] = deque()
    published = 0
    healthy = True
    while True:
        batch = []
        if healthy and time.monotonic() < deadline:
            batch = _claim(batch_size=batch_size, lease_seconds=lease, relay_id=relay_id)
        if batch:
            in_flight.append(_send(producer, batch))
        while in_flight and (not batch or len(in_flight) > 1 or in_flight[0].complete):
            flight = in_flight.popleft()
            healthy = _settle(producer, flight, relay_id) and healthy
            published += len(flight.acked)
        if not batch and not in_flight:
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
