"""Whether a consumer is a settled member of its group, from librdkafka's statistics.

After a broker loses its state, a consumer's rejoin could fail to complete without an error
ever reaching the application: it goes on polling and receives nothing. librdkafka's
statistics (every ``statistics.interval.ms``) say where the membership stands: the group
coordinator's ``state`` and the ``join_state``, ``up`` and ``steady`` once it holds its
assignment. Each change is logged (with the number of partitions assigned), and a
membership unsettled for longer than ``CONSUMER_REJOIN_TIMEOUT_SECONDS`` while the broker
is up makes the runner give up, so that its supervisor starts a fresh consumer, which joins
anew. Time while no broker is connected does not count: a broker outage is waited out (a
restart would not help, and crash-loop backoff would delay the recovery).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

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
