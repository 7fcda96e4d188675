"""Whether a consumer is a settled member of its group, and whether its group consumes
every topic it subscribed to.

**Settled.**
After a broker loses its state, a consumer's rejoin could fail to complete without an error
ever reaching the application: it goes on polling and receives nothing. librdkafka's
statistics (every ``statistics.interval.ms``) say where the membership stands: the group
coordinator's ``state`` and the ``join_state``, ``up`` and ``steady`` once it holds its
assignment. Each change is logged (with the number of partitions assigned), and a
membership unsettled for longer than ``CONSUMER_REJOIN_TIMEOUT_SECONDS`` while the broker
is up makes the runner give up, so that its supervisor starts a fresh consumer, which joins
anew. Time while no broker is connected does not count: a broker outage is waited out (a
restart would not help, and crash-loop backoff would delay the recovery).

**Every topic.** A group's assignment covers the subscribed topics that existed when it
was computed. A topic created later should make librdkafka rejoin (it compares topic
metadata every ``topic.metadata.refresh.interval.ms``), but one created while a rebalance is
under way can slip past that comparison: after a broker lost its data, with the topics
being created again one by one, a group settled without two of its four topics and
consumed nothing of them for minutes. :class:`AssignmentWatch` keeps its own account: a
subscribed topic that exists on the broker but has none of its partitions in this
member's assignment, at two checks a while apart once the assignment is a grace period
old (``max(20 s, three metadata refreshes)``), makes it subscribe again,
which starts a rebalance whose assignment sees the topic. In a group with more members
than a topic has partitions, a member may rightly hold none of it: the watch rejoins
once for a given set of left-out topics, then lets it be.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable

from confluent_kafka import KafkaException, TopicPartition

logger = logging.getLogger(__name__)

SETTLED = ("up", "steady")


class GroupWatch:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.state: tuple[str, str, int] | None = None
        self._unsettled_since: float | None = None

    def on_stats(self, stats: str) -> None:
        """The consumer's ``stats_cb`` (called from ``poll``)."""
        try:
            parsed = json.loads(stats)
        except ValueError:
            return
        group = parsed.get("cgrp") or {}
        state = (str(group.get("state", "?")), str(group.get("join_state", "?")), int(group.get("assignment_size", 0)))
        if state != self.state:
            logger.info("Group membership: %s, %s, %d partitions assigned", *state)
            self.state = state
        broker_up = any(broker.get("state") == "UP" for broker in (parsed.get("brokers") or {}).values())
        if state[:2] == SETTLED or not broker_up:
            self._unsettled_since = None
        elif self._unsettled_since is None:
            self._unsettled_since = self.clock()

    def unsettled_for(self) -> float:
        """Seconds since the membership was last seen settled (0 while it is)."""
        return 0.0 if self._unsettled_since is None else self.clock() - self._unsettled_since


class AssignmentWatch:
    """Rejoins when subscribed topics exist that the assignment left out (see the module)."""

    def __init__(self, consumer, topics: Iterable[str], *, resubscribe: Callable[[], None], grace: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.consumer = consumer
        self.topics = set(topics)
        self.resubscribe = resubscribe
        self.grace = grace
        self.interval = grace / 2  # a topic must be left out at two checks this far apart
        self.clock = clock
        self.rejoins = 0
        self._assigned: set[str] = set()
        self._assigned_at: float | None = None
        self._next_check = 0.0
        self._left_out: frozenset[str] = frozenset()
        self._rejoined_for: frozenset[str] = frozenset()

    def on_assign(self, partitions: list[TopicPartition]) -> None:
        self._assigned = {partition.topic for partition in partitions}
        self._assigned_at = self.clock()
        self._left_out = frozenset()

    def on_revoke(self, _partitions: list[TopicPartition]) -> None:
        """A rebalance began: nothing to judge until it ends."""
        self._assigned_at = None

    def check(self) -> None:
        """From the poll loop: rejoin when an existing subscribed topic is left out."""
        now = self.clock()
        if now < self._next_check or self._assigned_at is None or now - self._assigned_at < self.grace:
            return
        self._next_check = now + self.interval
        try:
            metadata = self.consumer.list_topics(timeout=5)
        except KafkaException as exc:
            logger.info("Could not read the topics to check the assignment: %s", exc)
            return
        present = {name for name, topic in metadata.topics.items()
                   if name in self.topics and topic.error is None and topic.partitions}
        left_out, seen_before = frozenset(present - self._assigned), self._left_out
        self._left_out = left_out
        if not left_out:
            self._rejoined_for = frozenset()
            return
        if left_out != seen_before or left_out == self._rejoined_for:
            return  # just appeared (librdkafka may be rejoining already), or rejoined for once
        self._rejoined_for = left_out
        logger.warning("Subscribed topics %s exist but the assignment of %.0f s ago has none of their "
                       "partitions: subscribing again to rebalance", ", ".join(sorted(left_out)),
                       now - self._assigned_at)
        self._assigned_at = None
        self.rejoins += 1
        self.resubscribe()
