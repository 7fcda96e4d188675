"""Draining the outbox into Kafka.

One relay drains a service's outbox at a time: it holds a PostgreSQL advisory lock
for the whole run, so the events of an aggregate leave in commit order however
many workers are nudged at once, and no row needs a lease. It reads pending rows
in sequence order, produces them outside any transaction (the next batch is read
while the broker acknowledges the previous one) and marks acknowledged rows
published. A relay that dies between producing and marking leaves its rows
pending, and its lock goes with its connection: the next run sends them again
(at least once; consumers dedupe by event id).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from confluent_kafka import KafkaError, KafkaException
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ticketing_shared.events.kafka import ensure_topics, get_producer, producer_failed, producer_generation
from ticketing_shared.events.models import OutboxEvent

logger = logging.getLogger(__name__)

# Session-level advisory lock key: one draining relay per database.
DRAIN_LOCK_KEY = 0x7469636B6574  # "ticket"


# One pending event as read: (seq, key, topic, value, event id, Kafka headers).
Pending = tuple[int, str, str, str, str, list[tuple[str, str]]]


@contextmanager
def _drain_lock() -> Iterator[bool]:
    """Yield whether this connection now drains the outbox (released on exit or disconnect)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [DRAIN_LOCK_KEY])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [DRAIN_LOCK_KEY])


def _read(*, after_seq: int, limit: int) -> list[Pending]:
    """The next pending events by sequence, with the envelope built by PostgreSQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT seq, aggregateid, type,
                json_build_object(
                    'id', id, 'type', type, 'occurred_at', occurred_at, 'source', %s::text, 'data', payload
                )::text,
                id::text, headers::text
            FROM {OutboxEvent._meta.db_table}
            WHERE published_at IS NULL AND seq > %s
            ORDER BY seq
            LIMIT %s
            """,
            [settings.SERVICE_NAME, after_seq, limit],
        )
        rows = cursor.fetchall()
    return [
        (seq, key, event_type, value, event_id, _kafka_headers(event_id, event_type, headers))
        for seq, key, event_type, value, event_id, headers in rows
    ]


def _kafka_headers(event_id: str, event_type: str, extra_json: str) -> list[tuple[str, str]]:
    headers = [("id", event_id), ("type", event_type)]
    if extra_json and extra_json != "{}":
        headers += [(str(k), str(v)) for k, v in json.loads(extra_json).items() if k not in ("id", "type")]
    return headers


def _mark_published(seqs: list[int]) -> None:
    """Without waiting for the WAL flush: a mark lost in a database crash only means those
    events are sent again, which at-least-once delivery allows."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(
            f"UPDATE {OutboxEvent._meta.db_table} SET published_at = now() WHERE seq = ANY(%s)", [seqs]
        )


class _InFlight:
    """One batch handed to the producer. Delivery reports only count successes; a failure,
    rare, names its event by the ``id`` header so that one alone stays pending."""

    def __init__(self, batch: list[Pending]) -> None:
        self.seq_by_id = {row[4]: row[0] for row in batch}
        self.size = len(batch)
        self.acked = 0
        self.failed: list[str] = []

    def report(self, err, msg) -> None:
        if err is None:
            self.acked += 1
        else:
            event_id = dict(msg.headers() or []).get("id", b"").decode()
            logger.error("Outbox event %s not delivered: %s", event_id, err)
            self.failed.append(event_id)
            if isinstance(err, KafkaError):
                producer_failed(err)
            if isinstance(err, KafkaError) and err.code() in _TOPIC_GONE:  # the broker lost it: create it again
                _known_topics.discard(msg.topic())

    @property
    def complete(self) -> bool:
        return self.acked + len(self.failed) == self.size


def _send(producer, batch: list[Pending]) -> _InFlight:
    flight = _InFlight(batch)
    produce, report = producer.produce, flight.report
    for _seq, key, topic, value, _event_id, headers in batch:
        while True:
            try:
                produce(topic, value, key, headers=headers, on_delivery=report)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.05)
    producer.poll(0)
    return flight


def _settle(producer, flight: _InFlight, *, mark: bool = True) -> tuple[int, bool]:
    """Wait for a batch's delivery reports and mark what was acknowledged.

    After a failure only the events before the first failed one are marked: the later
    ones are sent again after it, so no aggregate's events are marked out of order
    (the idempotent producer can lose 2 and 3 yet deliver 4). ``mark=False`` (an
    earlier batch failed) marks nothing. Returns how many were marked and whether
    the whole batch was."""
    deadline = time.monotonic() + settings.KAFKA["FLUSH_TIMEOUT_SECONDS"]
    while not flight.complete and time.monotonic() < deadline:
        producer.poll(0.01)
    if not mark or not flight.complete:  # reports missing: we cannot tell which arrived
        acked = []
    elif not flight.failed:
        acked = list(flight.seq_by_id.values())
    else:
        first_failed = min(flight.seq_by_id.get(event_id, 0) for event_id in flight.failed)
        acked = [seq for seq in flight.seq_by_id.values() if seq < first_failed]
    if acked:
        _mark_published(acked)
    if len(acked) < flight.size:
        logger.error("%d outbox events not acknowledged; they stay pending", flight.size - len(acked))
    return len(acked), len(acked) == flight.size


_known_topics: set[str] = set()
_known_generation = 0
_TOPIC_GONE = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION}


def _ensure_topics(topics: set[str]) -> None:
    """Create a topic before its first event: a managed Kafka usually does not create topics
    on produce, and a topic nobody consumes (``payment.refunded``) is created by no consumer.
    A new producer (the broker may have lost its data) checks again."""
    global _known_generation
    if _known_generation != producer_generation():
        _known_topics.clear()
        _known_generation = producer_generation()
    missing = topics - _known_topics
    if missing:
        try:
            ensure_topics(sorted(missing))
        except KafkaException as exc:  # e.g. no right to create topics: produce anyway
            logger.warning("Could not make sure topics %s exist: %s", ", ".join(sorted(missing)), exc)
            return
        _known_topics.update(missing)


def _drain(*, batch_size: int, deadline: float) -> tuple[int, bool]:
    """Send everything pending, two batches in flight at most; stop at the first failure
    (sending later events of an aggregate after a failed earlier one would break its order)."""
    producer = get_producer()
    in_flight: deque[_InFlight] = deque()
    published = 0
    after_seq = 0
    healthy = True
    while True:
        batch = _read(after_seq=after_seq, limit=batch_size) if healthy and time.monotonic() < deadline else []
        if batch:
            _ensure_topics({row[2] for row in batch})
            in_flight.append(_send(producer, batch))
            after_seq = batch[-1][0]
        while in_flight and (not batch or len(in_flight) > 1 or in_flight[0].complete):
            sent, whole = _settle(producer, in_flight.popleft(), mark=healthy)
            published += sent
            healthy = healthy and whole
        if not batch and not in_flight:
            # A transaction that took its sequence number before one we sent but committed
            # after it was skipped above: look again from the start before stopping.
            if healthy and after_seq and time.monotonic() < deadline:
                after_seq = 0
                continue
            return published, healthy


def relay_outbox(*, batch_size: int | None = None, max_seconds: float = 30.0) -> int:
    """Publish pending outbox events until none is left or time is up; return the count.

    Returns 0 at once when another relay is draining. Events committed while it held
    the lock are picked up by the check after it lets go, so a nudge that found the
    lock taken is never lost.
    """
    batch_size = batch_size or settings.OUTBOX["BATCH_SIZE"]
    deadline = time.monotonic() + max_seconds
    published = 0
    while True:
        with _drain_lock() as draining:
            if not draining:
                return published
            try:
                sent, healthy = _drain(batch_size=batch_size, deadline=deadline)
            except KafkaException as exc:  # a fatal producer error: the next run gets a new producer
                producer_failed(exc)
                raise
            published += sent
        if not healthy or time.monotonic() >= deadline:  # the next beat tick tries again
            break
        if not OutboxEvent.objects.filter(published_at__isnull=True).exists():
            break
    if published:
        logger.debug("Relayed %d outbox events", published)
    return published


def drain_all(*, timeout: float = 600.0, on_progress=None) -> int:
    """Relay until nothing is pending, waiting while another relay holds the lock (the
    operator's commands; Celery's runs stop at ``max_seconds`` instead)."""
    deadline = time.monotonic() + timeout
    total = 0
    while OutboxEvent.objects.filter(published_at__isnull=True).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"events still pending after {timeout:.0f} s: is the broker reachable?")
        sent = relay_outbox()
        total += sent
        if on_progress and sent:
            on_progress(sent)
        if not sent:
            time.sleep(0.5)  # another relay drains, or the broker refuses: look again
    return total


def prune_outbox(*, older_than_hours: float | None = None) -> int:
    """Delete published events past the retention; pending ones are never touched."""
    hours = settings.OUTBOX["RETENTION_HOURS"] if older_than_hours is None else older_than_hours
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = OutboxEvent.objects.filter(published_at__lt=cutoff).delete()
    return deleted
