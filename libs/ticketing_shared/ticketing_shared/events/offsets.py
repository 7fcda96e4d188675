"""Keeping a consumer inside its partitions' logs when the broker lost its data.

A broker that loses its log (tansu keeps it in memory; a Kafka cluster rebuilt from
nothing) starts every partition again at offset 0, while consumers hold positions, and
maybe committed offsets, of the old log. Kafka would answer OFFSET_OUT_OF_RANGE and
``auto.offset.reset`` would apply, but not every broker does: tansu answers an empty
fetch, and the consumer waits silently until the new log grows past its old position,
skipping everything before. Two checks close that:

- at each assignment, a topic whose id changed since the last one was created anew:
  its partitions are read from the beginning, whatever offsets were committed;
- every second, a partition whose next offset is beyond the log end the broker
  reported in its last fetch reply is read again from the beginning.

Both only ever move a consumer backwards, so the worst case is a redelivery, which the
inbox makes harmless; nothing is skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicCollection, TopicPartition

logger = logging.getLogger(__name__)


class LogEndGuard:
    # Committed offsets the broker did not give are asked for again this long after.
    STARTS_RETRY_SECONDS = 10.0

    def __init__(self, consumer: Consumer, admin, *, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.consumer = consumer
        self.admin = admin
        self.interval = interval
        self.clock = clock
        self._topic_ids: dict[str, str] = {}
        self._starts: dict[tuple[str, int], int] = {}  # committed offsets at assignment
        self._next_check = 0.0
        self._next_starts_read = 0.0
        self.resets = 0

    def on_assign(self, partitions: list[TopicPartition]) -> None:
        """The subscription's ``on_assign``: remember where each partition starts."""
        logger.info("Assigned %s", describe(partitions))
        self._starts, self._next_starts_read = {}, 0.0
        self._read_starts(partitions, timeout=5)
        self._next_check = 0.0
        renewed = self._recreated({p.topic for p in partitions})
        if not renewed:
            return
        logger.warning("Topics %s were created anew (the broker lost its data?): reading them from the beginning",
                       ", ".join(sorted(renewed)))
        for partition in partitions:
            if partition.topic in renewed:
                partition.offset = OFFSET_BEGINNING
                self._starts[(partition.topic, partition.partition)] = -1
        self.consumer.assign(partitions)  # explicit offsets instead of the committed ones
        self.resets += 1

    def _read_starts(self, partitions: list[TopicPartition], *, timeout: float) -> None:
        """Remember the committed offsets of ``partitions``: where a partition that has not
        delivered anything yet reads from. Without them, a position past the log's end could
        not be told from one inside it."""
        try:
            committed = self.consumer.committed(partitions, timeout=timeout)
        except KafkaException as exc:
            committed, error = [], exc
        else:
            error = next((p.error for p in committed if p.error is not None), None)
        self._starts.update({(p.topic, p.partition): p.offset for p in committed if p.error is None})
        if error is not None:
            self._next_starts_read = self.clock() + self.STARTS_RETRY_SECONDS
            unread = [p for p in partitions if (p.topic, p.partition) not in self._starts]
            logger.warning("Could not read the committed offsets of %s (asked again in %.0f s): %s",
                           describe(unread), self.STARTS_RETRY_SECONDS, error)

    def _recreated(self, topics: set[str]) -> set[str]:
        try:
            described = self.admin.describe_topics(TopicCollection(sorted(topics)), request_timeout=5)
            ids = {topic: str(future.result(5).topic_id) for topic, future in described.items()}
        except (KafkaException, TimeoutError) as exc:
            logger.info("Could not read topic ids: %s", exc)
            return set()
        renewed = {topic for topic, topic_id in ids.items() if self._topic_ids.get(topic, topic_id) != topic_id}
        self._topic_ids.update(ids)
        return renewed

    def check(self) -> None:
        """From the poll loop: read again a partition whose position is past the log's end."""
        now = self.clock()
        if now < self._next_check:
            return
        self._next_check = now + self.interval
        assignment = self.consumer.assignment()
        if not assignment:
            return
        positions = self.consumer.position(assignment)
        unknown = [p for p in positions if p.offset < 0 and (p.topic, p.partition) not in self._starts]
        if unknown and now >= self._next_starts_read:  # not given at assignment (a broker just back?)
            self._read_starts(unknown, timeout=2)
        for position in positions:
            where = (position.topic, position.partition)
            offset = position.offset if position.offset >= 0 else self._starts.get(where, -1)
            if offset < 0:
                continue
            # The cached end comes from fetch replies; asking the broker (cached=False) is
            # wrong on tansu, which answers the start of its last record batch.
            _low, end = self.consumer.get_watermark_offsets(TopicPartition(*where), cached=True)
            if end < 0 or offset <= end:
                continue
            try:
                self.consumer.seek(TopicPartition(*where, OFFSET_BEGINNING))
            except KafkaException as exc:  # not fetching yet: next time
                logger.info("Seek of %s [%d] postponed: %s", *where, exc)
                continue
            logger.warning("%s [%d]: offset %d is past the log's end %d (the broker lost its data?): "
                           "reading it again from the beginning", *where, offset, end)
            self._starts[where] = -1
            self.resets += 1


def describe(partitions: list[TopicPartition]) -> str:
    """``order.created [0, 1, 2, 3], order.updated [1]``: which partitions, in a log line."""
    by_topic: dict[str, list[int]] = {}
    for partition in partitions:
        by_topic.setdefault(partition.topic, []).append(partition.partition)
    return ", ".join(f"{topic} {sorted(numbers)}" for topic, numbers in sorted(by_topic.items())) or "nothing"
