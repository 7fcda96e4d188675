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
being created again one by one, a group settled without some or all of its topics and
consumed nothing of them for minutes; subscribing again did not help (the same member
computed the same assignment), a fresh consumer did. :class:`AssignmentWatch` keeps its
own account: a subscribed topic that exists on the broker while no member of the group
holds any of its partitions, for a grace period (``max(20 s, three metadata refreshes)``)
once the assignment is that old, makes the runner give up, and its supervisor starts a
fresh consumer. Who holds what comes from the broker's description of the group, judged
only while the group is stable. A broker that describes no members (tansu) leaves this
member's own assignment, which is the group's when the consumer runs alone, as it does on
local stacks; there, more consumers of one service than partitions would make the spare
ones restart.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable

from confluent_kafka import ConsumerGroupState, KafkaException, TopicPartition

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


class TopicsLeftOut(RuntimeError):
    """Existing subscribed topics nobody in the group consumes: a fresh consumer should join."""


class AssignmentWatch:
    """Notices subscribed topics the group's assignment left out (see the module).

    Every broker call here is short (``TIMEOUT``): the poll loop waits for it, and
    ``max.poll.interval.ms`` is 10 s on local stacks. What cannot be known (a broker that does
    not answer, a group in the middle of a rebalance) is no reason to give up.
    """

    TIMEOUT = 2.0

    def __init__(self, consumer, topics: Iterable[str], *, group_id: str, admin, grace: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.consumer = consumer
        self.admin = admin
        self.group_id = group_id
        self.topics = set(topics)
        self.grace = grace
        self.interval = grace / 2
        self.clock = clock
        self._assigned_at: float | None = None
        self._next_check = 0.0
        self._left_out: frozenset[str] = frozenset()
        self._left_out_since = 0.0

    def on_assign(self, _partitions: list[TopicPartition]) -> None:
        self._assigned_at = self.clock()
        self._left_out = frozenset()

    def on_revoke(self, _partitions: list[TopicPartition]) -> None:
        """A rebalance began: nothing to judge until it ends."""
        self._assigned_at = None

    def check(self) -> None:
        """From the poll loop: raise :class:`TopicsLeftOut` when existing subscribed topics have
        been held by nobody for ``grace``, at checks ``grace / 2`` apart, once the assignment is
        ``grace`` old (librdkafka's own rebalance for a new topic comes well within that)."""
        now = self.clock()
        if now < self._next_check or self._assigned_at is None or now - self._assigned_at < self.grace:
            return
        self._next_check = now + self.interval
        left_out = self._left_out_now()
        if left_out is None:  # not known this time: judge at the next check
            return
        if left_out != self._left_out:
            self._left_out, self._left_out_since = left_out, now
            return
        if left_out and now - self._left_out_since >= self.grace:
            raise TopicsLeftOut(f"subscribed topics {', '.join(sorted(left_out))} exist, but nobody in the group "
                                f"has held any of their partitions for {now - self._left_out_since:.0f} s since "
                                f"the assignment {now - self._assigned_at:.0f} s ago: a fresh consumer joins anew")

    def _left_out_now(self) -> frozenset[str] | None:
        """Existing subscribed topics no member holds a partition of; None when that cannot be told."""
        try:
            metadata = self.consumer.list_topics(timeout=self.TIMEOUT)
            own = {partition.topic for partition in self.consumer.assignment()}
        except KafkaException as exc:
            logger.info("Could not read the topics to check the assignment: %s", exc)
            return None
        present = {name for name, topic in metadata.topics.items()
                   if name in self.topics and topic.error is None and topic.partitions}
        if present <= own:
            return frozenset()
        try:
            future = self.admin.describe_consumer_groups([self.group_id], request_timeout=self.TIMEOUT)[self.group_id]
            group = future.result(self.TIMEOUT)
        except (KafkaException, TimeoutError) as exc:
            logger.info("Could not describe group %s: %s", self.group_id, exc)
            return None
        if not group.members:  # the broker describes no members (tansu): this member's view is all there is
            return frozenset(present - own)
        if group.state != ConsumerGroupState.STABLE:  # mid-rebalance, assignments read empty
            return None
        held = {partition.topic for member in group.members for partition in member.assignment.topic_partitions}
        return frozenset(present - held)
