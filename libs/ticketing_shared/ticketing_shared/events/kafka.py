"""Kafka clients built from ``settings.KAFKA``; one producer per process."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_producer: tuple[int, Producer] | None = None
_admin: tuple[int, AdminClient] | None = None


def _config(*parts: str, **extra: Any) -> dict[str, Any]:
    config = dict(settings.KAFKA["COMMON"])
    for part in parts:
        config.update(settings.KAFKA[part])
    config.update(extra)
    return config


# Set when the producer must be replaced at the next get_producer(): it failed for good, or
# every broker went away (a broker that lost its data no longer knows our producer id, and
# an idempotent producer never recovers from that on its own). Its unacknowledged events
# stay pending in the outbox and are sent again by the new one.
_producer_failed = False
_brokers_were_down = False
_generation = 0

# Delivery errors after which this producer cannot deliver anything any more.
REPLACE_ON = {
    KafkaError.UNKNOWN_PRODUCER_ID,
    KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
    KafkaError.INVALID_PRODUCER_EPOCH,
    KafkaError._MSG_TIMED_OUT,
    KafkaError._FATAL,
}


def _on_producer_error(error: KafkaError) -> None:
    """Only non-fatal errors come here: confluent-kafka raises fatal ones from poll/flush/produce."""
    global _brokers_were_down
    if error.code() == KafkaError._ALL_BROKERS_DOWN:
        _brokers_were_down = True
    logger.warning("Kafka producer: %s", error)


def producer_failed(error: KafkaError | KafkaException | None = None) -> bool:
    """Replace the producer at the next :func:`get_producer` when ``error`` says it is done for
    (always without an error); True if it will be replaced."""
    global _producer_failed
    if isinstance(error, KafkaException):
        error = error.args[0] if error.args and isinstance(error.args[0], KafkaError) else None
        if error is None:
            return False
    if error is None or error.fatal() or error.code() in REPLACE_ON:
        if not _producer_failed:
            logger.error("Kafka producer will be replaced: %s", error or "asked to")
        _producer_failed = True
    return _producer_failed


def _answers(producer: Producer) -> bool:
    try:
        producer.list_topics(timeout=1)
    except KafkaException:
        return False
    return True


def get_producer() -> Producer:
    """The process's idempotent producer (re-created after a fork, a fatal error or a broker loss)."""
    global _producer, _producer_failed, _brokers_were_down, _generation
    with _lock:
        mine = _producer is not None and _producer[0] == os.getpid()
        stale = mine and (_producer_failed or (_brokers_were_down and _answers(_producer[1])))
        if not mine or stale:
            if stale:
                logger.warning("Replacing the Kafka producer")
                _producer[1].purge()  # what it had not delivered stays pending in the outbox
            config = _config("PRODUCER", **{"client.id": settings.SERVICE_NAME, "error_cb": _on_producer_error})
            _producer, _producer_failed, _brokers_were_down = (os.getpid(), Producer(config)), False, False
            _generation += 1
        return _producer[1]


def producer_generation() -> int:
    """Changes whenever the producer is replaced: what was known about the broker may be stale."""
    return _generation


def get_admin() -> AdminClient:
    global _admin
    with _lock:
        if _admin is None or _admin[0] != os.getpid():
            _admin = (os.getpid(), AdminClient(_config()))
        return _admin[1]


def new_consumer(**overrides: Any) -> Consumer:
    return Consumer(_config("CONSUMER", **{"group.id": settings.SERVICE_NAME, **overrides}))


def broker_reachable(*, timeout: float) -> bool:
    try:
        get_admin().list_topics(timeout=timeout)
    except KafkaException as exc:
        logger.warning("Kafka unreachable: %s", exc)
        return False
    return True


def ensure_topics(topics: list[str], *, timeout: float = 10.0) -> None:
    """Create missing topics so consumers can subscribe before anyone produced."""
    admin = get_admin()
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [topic for topic in topics if topic not in existing]
    if not missing:
        return
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=settings.KAFKA["PARTITIONS"]) for topic in missing],
        operation_timeout=timeout,
    )
    for topic, future in futures.items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
        logger.info("Created topic %s", topic)
