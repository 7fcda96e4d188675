"""The consumer runner: applies events from Kafka exactly once in effect.

For each message: parse the envelope, then in one database transaction record the
event id in the inbox (a redelivery finds it there and changes nothing) and run the
handler; only after that commit is the Kafka offset committed.

A partition never stops. An event that cannot be applied yet is *parked* in the
``events_parked`` table, in the same kind of transaction, and its partition moves on:

- an event that came before the version it builds on (:class:`RetryLater`) waits
  for it, by the clock (``EARLY_EVENT_MAX_WAIT_SECONDS``), and is retried at once
  when another event of the same key applies;
- an event whose handler failed is retried with backoff (``RETRY_ATTEMPTS``);
- an event that comes after a failed (or held back) event of the same aggregate on the
  same topic is parked behind it, so one aggregate's events still apply in order. An
  early event holds nothing back: its predecessor may come after it on the same topic
  (events sent again after a broker loss), and versions keep the order.

Parked events live in the database, not in the process, so a rebalance, a restart or
a second replica changes nothing: whichever consumer of the service is running
retries them. Poison messages, and parked events past their budget, go to the
``<service>.dlq`` topic and the dead-letter table. Database outages are not the
message's fault: the message is read again after a pause, and the process exits after
too many failures in a row so its supervisor restarts it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.utils import timezone

from ticketing_shared import heartbeat, requestid
from ticketing_shared.events import registry
from ticketing_shared.events.kafka import ensure_topics, get_admin, get_producer, new_consumer, producer_failed
from ticketing_shared.events.membership import AssignmentWatch, GroupWatch, TopicsLeftOut
from ticketing_shared.events.models import DeadLetter, ParkedEvent, ProcessedEvent
from ticketing_shared.events.offsets import LogEndGuard, describe
from ticketing_shared.events.registry import Event, Handler, PoisonMessage, RetryLater, handler_for

logger = logging.getLogger(__name__)

# An early event is retried at once when an event of its key applies (on any consumer of
# the service); retries by the clock only catch a predecessor that came some other way.
EARLY_RETRY_MAX_SECONDS = 30.0

# The database is away (not the event's fault): retried without spending the event's budget.
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError)


class ConsumerGaveUp(RuntimeError):
    """Too many consecutive infrastructure failures: let the orchestrator restart us."""


@dataclass(frozen=True)
class Received:
    """One message as the consumer got it, from Kafka or back from the parked table."""

    topic: str
    partition: int
    offset: int
    key: str
    value: bytes | str | None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, message: Message) -> Received:
        return cls(
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            key=(message.key() or b"").decode("utf-8", errors="replace"),
            value=message.value(),
            headers=message_headers(message),
        )

    @classmethod
    def parked(cls, row: ParkedEvent) -> Received:
        return cls(row.topic, row.partition, row.offset, row.key, row.value, dict(row.headers))

    @property
    def where(self) -> str:
        return f"{self.topic}@{self.partition}:{self.offset}"


def message_headers(message: Message) -> dict[str, str]:
    return {
        name: (value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value or ""))
        for name, value in (message.headers() or [])
    }


def apply_event(event: Event, handler: Handler) -> bool:
    """Run ``handler`` once per event id; return False for an already applied event."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {ProcessedEvent._meta.db_table} (event_id, type, processed_at) "
                "VALUES (%s, %s, now()) ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                [event.id, event.type],
            )
            if cursor.fetchone() is None:
                return False
        handler(event)
    return True


# -- arrival, parking, retries -------------------------------------------------------


def receive(event: Event, handler: Handler, received: Received, *, dlq_topic: str) -> str:
    """Apply a newly arrived event, or park it; one transaction either way.

    Returns ``"applied"`` (``"applied, woke parked"`` when parked events of its key are due
    now), ``"duplicate"`` or ``"parked"`` (or ``"dead-lettered"`` when its budget allows no
    retry). :class:`PoisonMessage` and database outages propagate.
    """
    with transaction.atomic():
        ahead = _blocking(received.topic, received.key).order_by("seq").first()
        if ahead is not None:
            _park_new(event, received, ParkedEvent.Reason.BEHIND, error=f"Behind parked event {ahead.event_id}")
            return "parked"
        try:
            applied = apply_event(event, handler)
        except (PoisonMessage, *INFRASTRUCTURE_ERRORS):
            raise
        except Exception as exc:  # RetryLater or a failing handler: set aside, the partition moves on
            row = _park_new(event, received, _reason(exc), error=_describe(exc), attempts=1, save=False)
            return _after_failure(row, exc, dlq_topic=dlq_topic)
        if not applied:
            return "duplicate"
        return "applied, woke parked" if wake(received.key) else "applied"


def retry_parked(handlers: Mapping[str, Handler], *, dlq_topic: str, limit: int = 100) -> int:
    """Retry the first parked event of each (topic, key) that is due; return how many applied.

    Goes on while retries succeed, so a chain of parked events of one aggregate drains
    in one call. Safe with several consumers: a row being retried elsewhere is skipped.
    """
    applied_total = 0
    for _round in range(50):
        due = _due_heads(limit)
        applied = sum(_retry_one(seq, handlers, dlq_topic=dlq_topic) for seq in due)
        applied_total += applied
        if not applied:
            break
    return applied_total


def wake(key: str) -> int:
    """An event of ``key`` applied: its parked events are due now (their predecessor may be it)."""
    now = timezone.now()
    return ParkedEvent.objects.filter(key=key, next_attempt_at__gt=now).update(next_attempt_at=now)


# Parked events that hold back the later events of their aggregate on their topic. An
# early one does not: the event it waits for may well arrive after it on the same topic
# (events sent again after a broker lost its data come in any order), and versions keep
# the order anyway; holding that predecessor behind it would wait forever.
BLOCKING = (ParkedEvent.Reason.FAILED, ParkedEvent.Reason.BEHIND)


def _blocking(topic: str, key: str, *, before: int | None = None):
    rows = ParkedEvent.objects.filter(topic=topic, key=key, reason__in=BLOCKING)
    return rows if before is None else rows.filter(seq__lt=before)


def _due_heads(limit: int) -> list[int]:
    """Due parked events with nothing blocking ahead of them, oldest first."""
    table = ParkedEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT seq FROM {table} p
            WHERE next_attempt_at <= now()
              AND NOT EXISTS (SELECT 1 FROM {table} q WHERE q.topic = p.topic AND q.key = p.key AND q.seq < p.seq
                              AND q.reason = ANY(%s))
            ORDER BY seq
            LIMIT %s
            """,
            [list(BLOCKING), limit],
        )
        return [row[0] for row in cursor.fetchall()]


def _retry_one(seq: int, handlers: Mapping[str, Handler], *, dlq_topic: str) -> int:
    with transaction.atomic():
        row = ParkedEvent.objects.select_for_update(skip_locked=True).filter(seq=seq).first()
        if row is None:  # applied by another consumer meanwhile, or being retried there
            return 0
        if _blocking(row.topic, row.key, before=row.seq).exists():
            return 0  # a blocking one appeared ahead (two consumers overlapped in a rebalance)
        event = Event.parse(row.value, row.headers)
        handler = handlers.get(event.type)
        with requestid.bound(event.headers.get(requestid.EVENT_HEADER)):
            try:
                if handler is None:
                    raise PoisonMessage(f"No handler for event type {event.type!r}")
                applied = apply_event(event, handler)
            except INFRASTRUCTURE_ERRORS:
                raise
            except PoisonMessage as exc:
                dead_letter(Received.parked(row), exc, row.attempts + 1, dlq_topic=dlq_topic)
                _unpark(row)
                return 0
            except Exception as exc:
                row.attempts += 1
                row.reason, row.error = _reason(exc), _describe(exc)
                _after_failure(row, exc, dlq_topic=dlq_topic)
                return 0
        logger.info("%s parked %s %s after %d attempts", "Applied" if applied else "Skipped duplicate",
                    event.type, event.id, row.attempts + 1)
        _unpark(row)
        return 1


def _park_new(event: Event, received: Received, reason: str, *, error: str, attempts: int = 0,
              save: bool = True) -> ParkedEvent:
    now = timezone.now()
    value = received.value.decode("utf-8") if isinstance(received.value, bytes) else received.value
    row = ParkedEvent(
        event_id=event.id, event_type=event.type, topic=received.topic, partition=received.partition,
        offset=received.offset, key=received.key, value=value, headers=received.headers, reason=reason,
        error=error, attempts=attempts, first_seen_at=now, next_attempt_at=now,
    )
    if save:
        _insert(row)
        logger.info("Parked %s %s (%s): %s", event.type, event.id, reason, error)
    return row


def _insert(row: ParkedEvent) -> None:
    """A redelivery of an event that is already parked (its offset commit was lost) changes nothing."""
    ParkedEvent.objects.bulk_create([row], ignore_conflicts=True)


def _after_failure(row: ParkedEvent, error: Exception, *, dlq_topic: str) -> str:
    """Schedule the next try of a parked event, or dead-letter it once its budget is spent."""
    options = settings.CONSUMER
    now = timezone.now()
    if isinstance(error, RetryLater):
        # Its predecessor comes through another topic and may be far behind (a backlog, a
        # stopped consumer): it waits by the clock, and is woken when that one applies.
        spent = (now - row.first_seen_at).total_seconds() >= options["EARLY_EVENT_MAX_WAIT_SECONDS"]
    else:
        logger.warning("Handler failed for %s %s (attempt %d): %s", row.event_type, row.event_id, row.attempts,
                       row.error)
        spent = row.attempts >= options["RETRY_ATTEMPTS"]
    if spent:
        dead_letter(Received.parked(row), error, row.attempts, dlq_topic=dlq_topic)
        if row.pk:
            _unpark(row)
        return "dead-lettered"
    ceiling = options["RETRY_BACKOFF_MAX_SECONDS"]
    if isinstance(error, RetryLater):  # woken when its predecessor applies: the clock is only a fallback
        ceiling = max(ceiling, EARLY_RETRY_MAX_SECONDS)
    backoff = min(options["RETRY_BACKOFF_SECONDS"] * 2 ** max(row.attempts - 1, 0), ceiling)
    row.next_attempt_at = now + timedelta(seconds=backoff)
    if row.pk:
        row.save(update_fields=["attempts", "reason", "error", "next_attempt_at"])
    else:
        _insert(row)
        logger.info("Parked %s %s (%s): %s", row.event_type, row.event_id, row.reason, row.error)
    return "parked"


def _unpark(row: ParkedEvent) -> None:
    """Remove a settled row; the next event of its aggregate (and the key's others) are due now."""
    row.delete()
    wake(row.key)


def _reason(error: Exception) -> str:
    return ParkedEvent.Reason.EARLY if isinstance(error, RetryLater) else ParkedEvent.Reason.FAILED


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


# -- dead letters ----------------------------------------------------------------------


def dead_letter(received: Received, error: Exception, attempts: int, *, dlq_topic: str) -> DeadLetter:
    """Put the message on the DLQ topic, then keep it in the dead-letter table.

    The topic first: if the database write fails after it, the message is dead-lettered
    again later (a duplicate on the topic, never a loss). The row is keyed by event id,
    so a redelivery updates it, and a new message that reuses an old offset (a broker
    that lost its log) gets a row of its own.
    """
    raw = received.value.encode() if isinstance(received.value, str) else (received.value or b"")
    event_id, event_type = None, received.headers.get("type", "")
    try:
        event = Event.parse(raw, received.headers)
        event_id, event_type = event.id, event.type
    except PoisonMessage:
        pass
    reason = _describe(error)
    producer = get_producer()
    producer.produce(
        dlq_topic,
        key=received.key.encode() or None,
        value=raw,
        headers=[
            *received.headers.items(),
            ("error", reason[:1000]),
            ("source-topic", received.topic),
            ("source-partition", str(received.partition)),
            ("source-offset", str(received.offset)),
        ],
    )
    try:
        unsent = producer.flush(settings.KAFKA["FLUSH_TIMEOUT_SECONDS"])
    except KafkaException as exc:
        producer_failed(exc)
        raise
    if unsent:
        producer_failed()  # stuck (a broker that lost our producer id?): the retry gets a new one
        raise RuntimeError(f"Dead letter not acknowledged by {dlq_topic}")
    digest = hashlib.sha256(f"{received.where}\n".encode() + raw).hexdigest()
    with transaction.atomic():
        letter, _ = DeadLetter.objects.update_or_create(
            fingerprint=f"event:{event_id}" if event_id else f"message:{digest}",
            defaults={
                "topic": received.topic,
                "partition": received.partition,
                "offset": received.offset,
                "key": received.key,
                "value": raw.decode("utf-8", errors="replace"),
                "headers": received.headers,
                "event_id": event_id,
                "event_type": event_type,
                "error": reason,
                "attempts": attempts,
                "status": DeadLetter.Status.PENDING,
            },
        )
    logger.error("Dead-lettered %s: %s", received.where, error)
    return letter


def replay_dead_letter(letter: DeadLetter) -> bool:
    """Put a dead letter back through its handler; True if it was applied now.

    Events of its key that are parked (waiting for it) are retried right after.
    """
    event = Event.parse(letter.value, letter.headers)
    handler = handler_for(event.type)
    if handler is None:
        raise PoisonMessage(f"No handler for event type {event.type!r}")
    with transaction.atomic():
        locked = DeadLetter.objects.select_for_update().get(pk=letter.pk)
        if locked.status != DeadLetter.Status.PENDING:
            return False
        with requestid.bound(event.headers.get(requestid.EVENT_HEADER)):
            applied = apply_event(event, handler)
        locked.status = DeadLetter.Status.REPLAYED
        locked.attempts += 1
        locked.save(update_fields=["status", "attempts", "updated_at"])
        wake(locked.key)
    return applied


# -- the runner ------------------------------------------------------------------------


class ConsumerRunner:
    def __init__(
        self,
        *,
        handlers: Mapping[str, Handler] | None = None,
        group_id: str | None = None,
        poll_timeout: float = 0.2,
    ) -> None:
        self.handlers: Mapping[str, Handler] = handlers if handlers is not None else registry._handlers
        self.group_id = group_id or settings.SERVICE_NAME
        self.dlq_topic = f"{settings.SERVICE_NAME}.dlq"
        self.poll_timeout = poll_timeout
        self.options = settings.CONSUMER
        self._offsets: dict[tuple[str, int], int] = {}
        self._consecutive_failures = 0
        self._next_sweep = 0.0
        self._next_recycle = 0.0
        self._stopping = False
        self.consumer = None

    # -- lifecycle -----------------------------------------------------------------

    def stop(self, *_args) -> None:
        """Finish the current message, commit, leave the group (safe from a signal handler)."""
        self._stopping = True

    def run(self, *, until: Callable[[], bool] | None = None) -> None:
        topics = sorted(self.handlers)
        if not topics:
            raise RuntimeError("No event handlers registered: nothing to consume")
        ensure_topics([*topics, self.dlq_topic])
        watch = GroupWatch()
        self.consumer = new_consumer(**{"group.id": self.group_id, "stats_cb": watch.on_stats})
        guard = LogEndGuard(self.consumer, get_admin())
        assignment = AssignmentWatch(self.consumer, topics, group_id=self.group_id, admin=get_admin(),
                                     grace=self._assignment_grace())

        def on_assign(_consumer, partitions: list[TopicPartition]) -> None:
            assignment.on_assign(partitions)
            guard.on_assign(partitions)

        def on_revoke(consumer, partitions: list[TopicPartition]) -> None:
            assignment.on_revoke(partitions)
            self._on_revoke(consumer, partitions)

        self.consumer.subscribe(topics, on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
        logger.info("Consuming %s as group %s", ", ".join(topics), self.group_id)
        try:
            while not self._stopping and not (until and until()):
                heartbeat.touch("consumer")
                guard.check()
                self._check_membership(watch, assignment)
                self._sweep_parked()
                message = self.consumer.poll(self.poll_timeout)
                if message is None:
                    continue
                if message.error():
                    self._on_kafka_error(message.error())
                    continue
                self._handle(message)
        finally:
            self._close()

    @staticmethod
    def _assignment_grace() -> float:
        """How long after an assignment a subscribed topic may be left out of it: librdkafka
        itself notices a new topic within a metadata refresh or two, and rebalances."""
        refresh_ms = settings.KAFKA["CONSUMER"].get("topic.metadata.refresh.interval.ms", 300000)
        return max(20.0, 3 * refresh_ms / 1000)

    def _check_membership(self, watch: GroupWatch, assignment: AssignmentWatch | None = None) -> None:
        """Give up on a membership that does not settle, or that settled without some of our
        topics: the supervisor's fresh consumer joins anew (``ticketing_shared.events.membership``)."""
        timeout = self.options["REJOIN_TIMEOUT_SECONDS"]
        unsettled = watch.unsettled_for()
        if timeout > 0 and unsettled > timeout:
            state, join_state, _ = watch.state or ("?", "?", 0)
            raise ConsumerGaveUp(f"the group membership has not settled for {unsettled:.0f} s (state {state}, "
                                 f"join state {join_state}): a fresh consumer joins anew")
        if assignment is not None and timeout > 0:
            try:
                assignment.check()
            except TopicsLeftOut as exc:
                raise ConsumerGaveUp(str(exc)) from exc

    def _close(self) -> None:
        if self.consumer is None:
            return
        try:
            if self._offsets:
                self.consumer.commit(offsets=self._commit_list(), asynchronous=False)
        except KafkaException as exc:
            logger.warning("Final offset commit failed (events will be redelivered): %s", exc)
        self.consumer.close()
        connection.close()
        logger.info("Consumer stopped")

    # -- one message ---------------------------------------------------------------

    def _handle(self, message: Message) -> None:
        received = Received.of(message)
        try:
            event = Event.parse(received.value, received.headers)
            handler = self.handlers.get(event.type)
            if handler is None:
                raise PoisonMessage(f"No handler for event type {event.type!r}")
            self._recycle_connection()
            with requestid.bound(event.headers.get(requestid.EVENT_HEADER)):
                outcome = receive(event, handler, received, dlq_topic=self.dlq_topic)
                logger.info("%s %s %s", outcome.capitalize(), event.type, event.id)
            if outcome == "applied, woke parked":
                self._next_sweep = 0.0  # it is what they waited for: retry them now
        except PoisonMessage as exc:
            try:
                dead_letter(received, exc, 1, dlq_topic=self.dlq_topic)
            except (*INFRASTRUCTURE_ERRORS, KafkaException, RuntimeError) as failure:
                self._infrastructure_failure(failure, message)
                return
        except INFRASTRUCTURE_ERRORS as exc:
            self._infrastructure_failure(exc, message)
            return
        except (KafkaException, RuntimeError) as exc:  # the DLQ topic did not take a dead letter
            self._infrastructure_failure(exc, message)
            return
        self._consecutive_failures = 0
        self._done(message)

    def _sweep_parked(self) -> None:
        """Retry due parked events, every ``PARKED_POLL_SECONDS`` or right after an event woke some."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.options["PARKED_POLL_SECONDS"]
        try:
            self._recycle_connection()
            retry_parked(self.handlers, dlq_topic=self.dlq_topic)
        except (*INFRASTRUCTURE_ERRORS, KafkaException, RuntimeError) as exc:
            self._infrastructure_failure(exc)

    def _recycle_connection(self) -> None:
        """Django's per-request connection upkeep (``CONN_MAX_AGE``, health check), at most once
        a second: run per event, its health check cost a round trip each. A connection that
        failed is closed by :meth:`_infrastructure_failure` anyway."""
        now = time.monotonic()
        if now >= self._next_recycle:
            self._next_recycle = now + 1.0
            close_old_connections()

    def _infrastructure_failure(self, error: Exception, message: Message | None = None) -> None:
        """Not the message's fault: read it again after a pause; give up after too many in a row."""
        self._consecutive_failures += 1
        logger.error("Database or broker unavailable (%d in a row): %s", self._consecutive_failures, error)
        connection.close()
        if self._consecutive_failures >= self.options["MAX_CONSECUTIVE_FAILURES"]:
            raise ConsumerGaveUp(f"{self._consecutive_failures} consecutive failures") from error
        if message is not None:
            try:
                self.consumer.seek(TopicPartition(message.topic(), message.partition(), message.offset()))
            except KafkaException as exc:  # revoked meanwhile: its new owner reads it from the committed offset
                logger.info("Could not seek back to %s@%s:%s: %s", message.topic(), message.partition(),
                            message.offset(), exc)
        backoff = min(self.options["RETRY_BACKOFF_SECONDS"] * 2 ** (self._consecutive_failures - 1),
                      self.options["RETRY_BACKOFF_MAX_SECONDS"])
        deadline = time.monotonic() + backoff
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, backoff))

    # -- offsets ---------------------------------------------------------------------

    def _done(self, message: Message) -> None:
        """The event's transaction committed: its offset may be committed (by librdkafka, in
        the background, see ``settings.KAFKA["CONSUMER"]``)."""
        tp = (message.topic(), message.partition())
        self._offsets[tp] = message.offset() + 1
        try:
            self.consumer.store_offsets(offsets=[TopicPartition(*tp, message.offset() + 1)])
        except KafkaException as exc:  # revoked meanwhile: its new owner reads it again (the inbox dedupes)
            logger.info("Offset of %s [%d] not stored: %s", *tp, exc)

    def _on_revoke(self, _consumer, partitions: list[TopicPartition]) -> None:
        """Partitions leave us (a rebalance) or were taken (``on_lost``). librdkafka itself
        commits the stored offsets of revoked partitions (``enable.auto.commit``); nothing
        here may block, least of all on a broker that is gone."""
        logger.info("Revoked %s", describe(partitions))
        for partition in partitions:
            self._offsets.pop((partition.topic, partition.partition), None)

    def _commit_list(self) -> list[TopicPartition]:
        return [TopicPartition(topic, partition, offset) for (topic, partition), offset in self._offsets.items()]

    def _on_kafka_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            return
        if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            logger.warning("Topic not there yet: %s", error)
            return
        if error.fatal():
            raise KafkaException(error)
        logger.warning("Kafka: %s", error)
