from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
from django.conf import settings

from ticketing_shared.events.models import OutboxEvent


def access_token(
    *, user_id: str | None = None, email: str = "buyer@example.com", lifetime: timedelta | None = None, **claims: Any
) -> str:
    """A signed access token like the auth service issues (needs the signing key)."""
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"] = user_id or str(uuid.uuid4())
    token["email"] = email
    for name, value in claims.items():
        token[name] = value
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


def outbox_events(event_type: str | None = None) -> list[dict[str, Any]]:
    """What was written to the outbox, oldest first, as ``{type, aggregateid, data}``."""
    events = OutboxEvent.objects.order_by("seq")
    if event_type:
        events = events.filter(type=event_type)
    return [{"type": e.type, "aggregateid": e.aggregateid, "data": e.payload} for e in events]


def _parsed(value: bytes | None) -> Any:
    """JSON as a dict; anything else (another suite's poison-message test shares the topic)
    as its text, so a reader never trips over it."""
    try:
        return json.loads(value) if value is not None else None
    except ValueError:
        return value.decode(errors="replace")


class KafkaReader:
    """Reads a topic from its beginning, for asserting what was published.

    Partitions are assigned by hand, not through a consumer group: joining a group waits on
    the broker's coordinator and rebalance delay, which on a loaded machine outlasted the
    tests' timeouts. A topic that does not exist yet is assigned as soon as it appears.
    """

    def __init__(self, *topics: str) -> None:
        self.consumer = Consumer(
            {
                **settings.KAFKA["COMMON"],
                "group.id": f"test-reader-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 10,
                "topic.metadata.refresh.interval.ms": 500,
            }
        )
        self.topics = list(topics)
        self._assigned: set[str] = set()

    def _assign_new_topics(self) -> None:
        missing = [topic for topic in self.topics if topic not in self._assigned]
        if not missing:
            return
        try:
            metadata = self.consumer.list_topics(timeout=1)  # every topic: never auto-creates one
        except KafkaException:
            return
        partitions = []
        for topic in missing:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None or not info.partitions:
                continue
            partitions += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(info.partitions)]
            self._assigned.add(topic)
        if partitions:
            self.consumer.incremental_assign(partitions)

    def poll(self, timeout: float) -> Message | None:
        """One message (or an error, or None) from the topics, assigning any that appeared."""
        self._assign_new_topics()
        if not self._assigned:
            time.sleep(min(timeout, 0.2))
            return None
        return self.consumer.poll(timeout)

    def read(self, count: int, *, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Return ``count`` messages as ``{topic, key, value (parsed), headers}``."""
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(messages) < count and time.monotonic() < deadline:
            message = self.poll(0.2)
            if message is None or message.error():
                continue
            messages.append(
                {
                    "topic": message.topic(),
                    "partition": message.partition(),
                    "key": message.key().decode() if message.key() else None,
                    "value": _parsed(message.value()),
                    "headers": {k: v.decode(errors="replace") for k, v in (message.headers() or [])},
                }
            )
        return messages

    def read_all(self, *, idle: float = 2.0, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Everything until nothing new arrives for ``idle`` seconds."""
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = self.read(1, timeout=idle)
            if not batch:
                break
            messages += batch
        return messages

    def read_key(self, key: str, *, count: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The first ``count`` messages keyed ``key``, skipping others (topics are shared by
        every suite that runs on the same broker)."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            found += [m for m in self.read(1, timeout=max(0.1, deadline - time.monotonic())) if m["key"] == key]
        return found

    def close(self) -> None:
        self.consumer.close()


def produce_raw(
    topic: str, value: bytes | str, *, key: str | None = None, headers: list | None = None, partition: int | None = None
) -> None:
    """Send one message and wait for the broker; ``partition`` pins it (else the key decides)."""
    from ticketing_shared.events.kafka import get_producer

    producer = get_producer()
    extra = {} if partition is None else {"partition": partition}
    producer.produce(topic, key=key, value=value, headers=headers or [], **extra)
    assert producer.flush(10) == 0


def envelope(event_type: str, data: dict[str, Any], *, event_id: str | None = None, source: str | None = None) -> str:
    """An event as the relay writes it, from the service that owns its topic (unless ``source``)."""
    from ticketing_shared.events.schemas import schema_for

    schema = schema_for(event_type)
    return json.dumps(
        {
            "id": event_id or str(uuid.uuid4()),
            "type": event_type,
            "occurred_at": "2026-01-01T00:00:00+00:00",
            "source": source or (schema.source if schema else "test"),
            "data": data,
        }
    )


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy, and return that: for effects
    that happen in another thread or process (a consumer, a relay)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {predicate}")


def run_concurrently(work, arguments: list, *, timeout: float = 60.0) -> list:
    """Call ``work(argument)`` for every argument at the same instant, each on its own thread
    and database connection (a race against real PostgreSQL); return the results in order."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(len(arguments))
    results: list = [None] * len(arguments)
    errors: list[BaseException] = []

    def run(index: int, argument) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = work(argument)
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if errors:
        raise errors[0]
    if any(thread.is_alive() for thread in threads):
        raise AssertionError(f"concurrent calls still running after {timeout:.0f} s")
    return results


def sign_in_operator(client, user) -> None:
    """Log ``user`` into this service's admin the way a sign-in through the auth service does:
    with the SSO backend and a session the auth service confirmed just now, so the admin's
    re-validation (``admin_sso.AdminRevalidationMiddleware``) lets it through."""
    from ticketing_shared import admin_sso

    client.force_login(user, backend=admin_sso.BACKEND)
    session = client.session
    session[admin_sso.SESSION_STATE] = {"refresh": "confirmed-in-test", "confirmed_at": time.time()}
    session.save()


def deliver(event_type: str, data: dict[str, Any], *, event_id: str | None = None, source: str | None = None) -> bool:
    """Hand an event to this service's registered handler the way the consumer runner does:
    in a transaction with its inbox row. False when that event id was already applied;
    :class:`~ticketing_shared.events.registry.RetryLater` propagates for an early event.
    ``source`` pretends another service sent it (the topic's owner by default)."""
    from ticketing_shared.events.consumer import apply_event
    from ticketing_shared.events.registry import Event, handler_for

    handler = handler_for(event_type)
    if handler is None:
        raise LookupError(f"This service registers no handler for {event_type}")
    event = Event.parse(envelope(event_type, data, event_id=event_id, source=source))
    return apply_event(event, handler)


__all__ = ["KafkaReader", "TopicPartition", "access_token", "deliver", "envelope", "outbox_events", "produce_raw",
           "run_concurrently", "sign_in_operator", "wait_for"]
