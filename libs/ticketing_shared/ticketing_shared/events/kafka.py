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


_producer_failed = False


def _on_producer_error(error: KafkaError) -> None:
    """A fatal error leaves an idempotent producer unusable for good: build a new one next time."""
    global _producer_failed
    if error.fatal():
        logger.error("Kafka producer failed for good, it will be replaced: %s", error)
        _producer_failed = True
    else:
        logger.warning("Kafka producer: %s", error)


def get_producer() -> Producer:
    """The process's idempotent producer (re-created after a fork or a fatal error)."""
    global _producer, _producer_failed
    with _lock:
        if _producer is None or _producer[0] != os.getpid() or _producer_failed:
            config = _config("PRODUCER", **{"client.id": settings.SERVICE_NAME, "error_cb": _on_producer_error})
            _producer, _producer_failed = (os.getpid(), Producer(config)), False
        return _producer[1]


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
