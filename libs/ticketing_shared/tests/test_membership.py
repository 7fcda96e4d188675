"""The consumer watches its group membership (librdkafka statistics) and gives up on a rejoin
that never completes while the broker is up; and it rejoins when its assignment left out a
subscribed topic that exists."""

import json
import logging
import uuid
from types import SimpleNamespace

import pytest
from confluent_kafka import TopicPartition

from ticketing_shared.events.consumer import ConsumerGaveUp, ConsumerRunner
from ticketing_shared.events.membership import AssignmentWatch, GroupWatch

from .conftest import Widget, wait_for, widget_created


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


class Topics:
    """What ``list_topics`` answers: the topics the broker has, by name."""

    def __init__(self, *names: str) -> None:
        self.topics = {name: SimpleNamespace(error=None, partitions={0: None, 1: None}) for name in names}


class Broker:
    def __init__(self, *names: str) -> None:
        self.metadata = Topics(*names)

    def list_topics(self, timeout):
        return self.metadata


def partitions(*topics: str) -> list[TopicPartition]:
    return [TopicPartition(topic, number) for topic in topics for number in (0, 1)]


def test_a_subscribed_topic_the_assignment_left_out_makes_the_consumer_rejoin_once(caplog):
    """The chaos run's finding: after a broker loss the group settled while two of its topics
    were still being created again, and librdkafka never rebalanced to take them in."""
    clock, broker, rejoined = Clock(), Broker("order.created"), []
    watch = AssignmentWatch(broker, ["order.created", "order.updated"], resubscribe=lambda: rejoined.append(clock.now),
                            grace=20, clock=clock)
    watch.on_assign(partitions("order.created"))  # order.updated did not exist yet
    broker.metadata = Topics("order.created", "order.updated")  # ... and now it does

    clock.now += 19
    watch.check()  # within the grace: librdkafka may still rebalance on its own
    clock.now += 1
    watch.check()  # left out at the first check
    clock.now += 9
    watch.check()  # not a check yet
    assert rejoined == []

    clock.now += 1
    watch.check()  # still left out ten seconds later: rejoin
    assert rejoined == [130] and watch.rejoins == 1
    assert "Subscribed topics order.updated exist but the assignment of 30 s ago has none" in caplog.text

    clock.now += 60
    watch.check()  # the rebalance is under way: nothing to judge
    watch.on_assign(partitions("order.created", "order.updated"))
    clock.now += 60
    watch.check()
    assert rejoined == [130]


def test_a_member_that_rightly_holds_none_of_a_topic_rejoins_only_once():
    """More members than the topic has partitions: another member holds them all."""
    clock, broker, rejoined = Clock(), Broker("a", "b"), []
    watch = AssignmentWatch(broker, ["a", "b"], resubscribe=lambda: rejoined.append(clock.now), grace=20, clock=clock)
    for _ in range(5):
        watch.on_assign(partitions("a"))
        for _ in range(10):
            clock.now += 10
            watch.check()
    assert len(rejoined) == 1


def test_topics_that_do_not_exist_or_were_revoked_are_no_reason_to_rejoin():
    clock, rejoined = Clock(), []
    watch = AssignmentWatch(Broker("a"), ["a", "b"], resubscribe=lambda: rejoined.append(1), grace=20, clock=clock)
    watch.on_assign(partitions("a"))  # "b" is not on the broker
    for _ in range(10):
        clock.now += 10
        watch.check()
    watch.on_revoke(partitions("a"))  # a rebalance under way, for as long as it takes
    for _ in range(10):
        clock.now += 10
        watch.check()
    assert rejoined == []


@pytest.mark.django_db(transaction=True)
def test_the_runner_rebalances_when_its_assignment_left_out_a_topic(run_consumer, topics, monkeypatch, caplog):
    """The real consumer on the real broker: the rejoin is a rebalance, and consuming goes on."""
    from ticketing_shared.testing.helpers import envelope, produce_raw

    caplog.set_level(logging.WARNING, logger="ticketing_shared.events.membership")
    monkeypatch.setattr(ConsumerRunner, "_assignment_grace", staticmethod(lambda: 2.0))
    assignments: list[set[str]] = []
    on_assign = AssignmentWatch.on_assign

    def first_one_without_updates(watch, partitions):
        assignments.append({partition.topic for partition in partitions})
        if len(assignments) == 1:  # as if computed while that topic was being created again
            partitions = [partition for partition in partitions if partition.topic != topics["updated"]]
        on_assign(watch, partitions)

    monkeypatch.setattr(AssignmentWatch, "on_assign", first_one_without_updates)
    run_consumer()
    wait_for(lambda: len(assignments) >= 2, timeout=60)
    assert f"Subscribed topics {topics['updated']} exist but the assignment" in caplog.text
    assert assignments[-1] == {topics["created"], topics["updated"]}

    widget_id = str(uuid.uuid4())
    produce_raw(topics["created"], envelope(topics["created"], {"id": widget_id, "name": "w", "version": 0}),
                key=widget_id)
    wait_for(lambda: Widget.objects.filter(id=widget_id).exists(), timeout=30)
