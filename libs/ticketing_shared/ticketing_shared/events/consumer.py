"""The consumer runner: applies events from Kafka exactly once in effect.

For each message: parse the envelope, then in one database transaction record the
event id in the inbox (a redelivery finds it there and changes nothing) and run the
handler; only after that commit is the Kafka offset committed.

A handler that raises :class:`RetryLater` (the event came before the version it
builds on) or fails is retried with backoff while its partition is paused; other
partitions keep flowing. Poison messages, and messages that fail past their retry
budget, go to the ``<service>.dlq`` topic and the dead-letter table, and the
consumer moves on. Database outages are not the message's fault: they are retried
without spending the budget, and the process exits after too many in a row so its
supervisor restarts it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection, transaction

from ticketing_shared import requestid
from ticketing_shared.events.kafka import ensure_topics, get_producer, new_consumer
from ticketing_shared.events.models import DeadLetter, ProcessedEvent
from ticketing_shared.events.registry import Event, Handler, PoisonMessage, RetryLater, handler_for

logger = logging.getLogger(__name__)

TP = tuple[str, int]


class ConsumerGaveUp(RuntimeError):
    """Too many consecutive infrastructure failures: let the orchestrator restart us."""


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


def message_headers(message: Message) -> dict[str, str]:
    return {
        name: (value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value or ""))
        for name, value in (message.headers() or [])
    }


@dataclass
class _Waiting:
    message: Message
    attempts: int
    due: float
    since: float  # when the message was first tried


class ConsumerRunner:
    def __init__(
        self,
        *,
        handlers: Mapping[str, Handler] | None = None,
        group_id: str | None = None,
        poll_timeout: float = 0.2,
    ) -> None:
        from ticketing_shared.events.registry import _handlers

        self.handlers: Mapping[str, Handler] = handlers if handlers is not None else _handlers
        self.group_id = group_id or settings.SERVICE_NAME
        self.dlq_topic = f"{settings.SERVICE_NAME}.dlq"
        self.poll_timeout = poll_timeout
        self.options = settings.CONSUMER
        self._waiting: dict[TP, _Waiting] = {}
        self._paused: set[TP] = set()
        self._offsets: dict[TP, int] = {}
        self._consecutive_failures = 0
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
        self.consumer = new_consumer(**{"group.id": self.group_id})
        self.consumer.subscribe(topics, on_revoke=self._on_revoke, on_lost=self._on_revoke)
        logger.info("Consuming %s as group %s", ", ".join(topics), self.group_id)
        try:
            while not self._stopping and not (until and until()):
                self._retry_due()
                message = self.consumer.poll(self.poll_timeout)
                if message is None:
                    continue
                if message.error():
                    self._on_kafka_error(message.error())
                    continue
                if (message.topic(), message.partition()) in self._paused:
                    continue  # fetched before the pause; re-read after the retry's seek
                self._handle(message, attempts=1)
        finally:
            self._close()

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

    def _handle(self, message: Message, *, attempts: int, since: float | None = None) -> None:
        since = time.monotonic() if since is None else since
        try:
            event = Event.parse(message.value(), message_headers(message))
            handler = self.handlers.get(event.type)
            if handler is None:
                raise PoisonMessage(f"No handler for event type {event.type!r}")
            close_old_connections()
            with requestid.bound(event.headers.get(requestid.EVENT_HEADER)):
                applied = apply_event(event, handler)
                logger.info("%s %s %s", "Applied" if applied else "Skipped duplicate", event.type, event.id)
        except PoisonMessage as exc:
            self._dead_letter(message, exc, attempts)
        except RetryLater as exc:
            # The event it builds on comes through another topic and may be far behind (a
            # backlog, a stuck consumer): wait for it by the clock, not by a few attempts.
            waited = time.monotonic() - since
            if waited >= self.options["EARLY_EVENT_MAX_WAIT_SECONDS"]:
                self._dead_letter(message, exc, attempts)
            else:
                log = logger.warning if attempts % 20 == 0 else logger.info
                log("Early event %s@%s:%s waits (%.0f s so far): %s",
                    message.topic(), message.partition(), message.offset(), waited, exc)
                self._wait(message, attempts, since)
        except (OperationalError, InterfaceError) as exc:
            self._infrastructure_failure(message, attempts, exc, since)
        except Exception as exc:
            logger.exception("Handler failed for %s@%s:%s", message.topic(), message.partition(), message.offset())
            self._retry_or_give_up(message, attempts, exc, self.options["RETRY_ATTEMPTS"], since)
        else:
            self._consecutive_failures = 0
            self._done(message)

    def _retry_or_give_up(self, message: Message, attempts: int, error: Exception, budget: int, since: float) -> None:
        if attempts >= budget:
            self._dead_letter(message, error, attempts)
        else:
            logger.info("Will retry %s@%s:%s (attempt %d): %s",
                        message.topic(), message.partition(), message.offset(), attempts, error)
            self._wait(message, attempts, since)

    def _infrastructure_failure(self, message: Message, attempts: int, error: Exception,
                                since: float | None = None) -> None:
        self._consecutive_failures += 1
        logger.error("Database unavailable (%d in a row): %s", self._consecutive_failures, error)
        connection.close()
        if self._consecutive_failures >= self.options["MAX_CONSECUTIVE_FAILURES"]:
            raise ConsumerGaveUp(f"{self._consecutive_failures} consecutive failures") from error
        self._wait(message, attempts - 1, since)  # not the message's fault: the budget is kept

    def _dead_letter(self, message: Message, error: Exception, attempts: int) -> None:
        try:
            record_dead_letter(message, error, attempts, dlq_topic=self.dlq_topic)
        except (DatabaseError, KafkaException, RuntimeError) as exc:
            self._infrastructure_failure(message, attempts, exc)
            return
        self._done(message)

    # -- offsets, pauses, retries --------------------------------------------------

    def _done(self, message: Message) -> None:
        tp = (message.topic(), message.partition())
        self._offsets[tp] = message.offset() + 1
        self.consumer.commit(offsets=[TopicPartition(*tp, message.offset() + 1)], asynchronous=True)
        if tp in self._paused:
            partition = TopicPartition(*tp, message.offset() + 1)
            self.consumer.seek(partition)
            self.consumer.resume([partition])
            self._paused.discard(tp)

    def _wait(self, message: Message, attempts: int, since: float | None = None) -> None:
        tp = (message.topic(), message.partition())
        if tp not in self._paused:
            self.consumer.pause([TopicPartition(*tp)])
            self._paused.add(tp)
        backoff = min(
            self.options["RETRY_BACKOFF_SECONDS"] * (2 ** max(attempts - 1, 0)),
            self.options["RETRY_BACKOFF_MAX_SECONDS"],
        )
        self._waiting[tp] = _Waiting(message=message, attempts=attempts, due=time.monotonic() + backoff,
                                     since=time.monotonic() if since is None else since)

    def _retry_due(self) -> None:
        now = time.monotonic()
        for tp, waiting in list(self._waiting.items()):
            if waiting.due <= now and self._waiting.get(tp) is waiting:
                del self._waiting[tp]
                self._handle(waiting.message, attempts=waiting.attempts + 1, since=waiting.since)

    def _on_revoke(self, _consumer, partitions: list[TopicPartition]) -> None:
        for partition in partitions:
            tp = (partition.topic, partition.partition)
            self._waiting.pop(tp, None)
            self._paused.discard(tp)
            self._offsets.pop(tp, None)

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


def record_dead_letter(message: Message, error: Exception, attempts: int, *, dlq_topic: str) -> DeadLetter:
    """Keep the message in the dead-letter table and on the DLQ topic, then it may be skipped."""
    raw = message.value() or b""
    headers = message_headers(message)
    event_id, event_type = None, headers.get("type", "")
    try:
        event = Event.parse(raw, headers)
        event_id, event_type = event.id, event.type
    except PoisonMessage:
        pass
    with transaction.atomic():
        dead_letter, _ = DeadLetter.objects.update_or_create(
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            defaults={
                "key": (message.key() or b"").decode("utf-8", errors="replace"),
                "value": raw.decode("utf-8", errors="replace"),
                "headers": headers,
                "event_id": event_id,
                "event_type": event_type,
                "error": f"{type(error).__name__}: {error}",
                "attempts": attempts,
            },
        )
    producer = get_producer()
    producer.produce(
        dlq_topic,
        key=message.key(),
        value=raw,
        headers=[
            *(message.headers() or []),
            ("error", f"{type(error).__name__}: {error}"[:1000]),
            ("source-topic", message.topic()),
            ("source-partition", str(message.partition())),
            ("source-offset", str(message.offset())),
        ],
    )
    if producer.flush(settings.KAFKA["FLUSH_TIMEOUT_SECONDS"]):
        raise RuntimeError(f"Dead letter not acknowledged by {dlq_topic}")
    logger.error("Dead-lettered %s@%s:%s: %s", message.topic(), message.partition(), message.offset(), error)
    return dead_letter


def replay_dead_letter(dead_letter: DeadLetter) -> bool:
    """Put a dead letter back through its handler; True if it was applied now."""
    event = Event.parse(dead_letter.value, dead_letter.headers)
    handler = handler_for(event.type)
    if handler is None:
        raise PoisonMessage(f"No handler for event type {event.type!r}")
    with transaction.atomic():
        locked = DeadLetter.objects.select_for_update().get(pk=dead_letter.pk)
        if locked.status != DeadLetter.Status.PENDING:
            return False
        with requestid.bound(event.headers.get(requestid.EVENT_HEADER)):
            applied = apply_event(event, handler)
        locked.status = DeadLetter.Status.REPLAYED
        locked.attempts += 1
        locked.save(update_fields=["status", "attempts", "updated_at"])
    return applied
