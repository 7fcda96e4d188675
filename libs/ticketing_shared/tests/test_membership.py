"""The consumer watches its group membership (librdkafka statistics) and gives up on a rejoin
that never completes while the broker is up."""

import json
import logging

import pytest

from ticketing_shared.events.consumer import ConsumerGaveUp, ConsumerRunner
from ticketing_shared.events.membership import GroupWatch

from .conftest import wait_for, widget_created


def stats(state: str, join_state: str, assigned: int = 0, broker: str = "UP") -> str:
    return json.dumps({"cgrp": {"state": state, "join_state": join_state, "assignment_size": assigned},
                       "brokers": {"127.0.0.1:9092/1": {"state": broker}}})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_unsettled_membership_is_timed_only_while_the_broker_is_up(caplog):
    clock = Clock()
    watch = GroupWatch(clock=clock)
    caplog.set_level(logging.INFO, logger="ticketing_shared.events.membership")

    watch.on_stats(stats("up", "steady", 4))
    clock.now += 30
    assert watch.unsettled_for() == 0

    watch.on_stats(stats("up", "wait-join"))  # a rebalance began
    clock.now += 20
    assert watch.unsettled_for() == 20
    watch.on_stats(stats("wait-broker", "init", broker="DOWN"))  # the broker went away: waited out
    clock.now += 300
    assert watch.unsettled_for() == 0
    watch.on_stats(stats("up", "wait-sync"))  # back, and stuck again
    clock.now += 45
    assert watch.unsettled_for() == 45
    watch.on_stats(stats("up", "steady", 2))
    assert watch.unsettled_for() == 0

    assert [r.getMessage() for r in caplog.records] == [
        "Group membership: up, steady, 4 partitions assigned",
        "Group membership: up, wait-join, 0 partitions assigned",
        "Group membership: wait-broker, init, 0 partitions assigned",
        "Group membership: up, wait-sync, 0 partitions assigned",
        "Group membership: up, steady, 2 partitions assigned",
    ]


def test_statistics_that_are_not_json_change_nothing():
    watch = GroupWatch()
    watch.on_stats("{not json")
    assert watch.state is None and watch.unsettled_for() == 0


def test_the_runner_gives_up_past_the_rejoin_timeout(settings):
    settings.CONSUMER = {**settings.CONSUMER, "REJOIN_TIMEOUT_SECONDS": 30}
    runner, clock = ConsumerRunner(handlers={"x": widget_created}), Clock()
    watch = GroupWatch(clock=clock)
    watch.on_stats(stats("up", "wait-join"))
    clock.now += 29
    runner._check_membership(watch)  # not yet

    clock.now += 2
    with pytest.raises(ConsumerGaveUp, match=r"has not settled for 31 s \(state up, join state wait-join\)"):
        runner._check_membership(watch)

    settings.CONSUMER = {**settings.CONSUMER, "REJOIN_TIMEOUT_SECONDS": 0}  # off
    runner = ConsumerRunner(handlers={"x": widget_created})
    runner._check_membership(watch)


@pytest.mark.django_db(transaction=True)
def test_a_running_consumer_reports_a_settled_membership_with_its_partitions(topics, run_consumer, settings, caplog):
    settings.KAFKA = {**settings.KAFKA, "CONSUMER": {**settings.KAFKA["CONSUMER"], "statistics.interval.ms": 200}}
    caplog.set_level(logging.INFO, logger="ticketing_shared.events.membership")

    run_consumer()

    wait_for(lambda: any("Group membership: up, steady" in r.getMessage() for r in caplog.records), timeout=20)
    settled = next(r.getMessage() for r in caplog.records if "up, steady" in r.getMessage())
    assert settled.endswith(" partitions assigned") and not settled.endswith(" 0 partitions assigned")
