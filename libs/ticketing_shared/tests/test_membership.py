"""The consumer watches its group membership (librdkafka statistics) and gives up on a rejoin
that never completes while the broker is up; and it rejoins when its assignment left out a
subscribed topic that exists."""

import json
import logging
import threading
from types import SimpleNamespace

import pytest
from confluent_kafka import TopicPartition

from ticketing_shared.events.consumer import ConsumerGaveUp, ConsumerRunner
from ticketing_shared.events.membership import AssignmentWatch, GroupWatch, TopicsLeftOut

from .conftest import wait_for, widget_created, widget_updated


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
    """The consumer's and the admin's broker: its topics, and the members it describes."""

    def __init__(self, *names: str, members: tuple[list[TopicPartition], ...] = ()) -> None:
        self.metadata = Topics(*names)
        self.members = members

    def list_topics(self, timeout):
        return self.metadata

    def describe_consumer_groups(self, group_ids, request_timeout):
        members = [SimpleNamespace(assignment=SimpleNamespace(topic_partitions=held)) for held in self.members]
        description = SimpleNamespace(members=members)
        return {group_id: SimpleNamespace(result=lambda timeout: description) for group_id in group_ids}


def partitions(*topics: str) -> list[TopicPartition]:
    return [TopicPartition(topic, number) for topic in topics for number in (0, 1)]


def assignment_watch(broker: Broker, topics: list[str], clock: Clock) -> AssignmentWatch:
    return AssignmentWatch(broker, topics, group_id="payments", admin=broker, grace=20, clock=clock)


def test_a_subscribed_topic_the_assignment_left_out_makes_the_consumer_give_up():
    """The chaos run's finding: after a broker loss the group settled while some of its topics
    were still being created again, and librdkafka never rebalanced to take them in."""
    clock, broker = Clock(), Broker("order.created")
    watch = assignment_watch(broker, ["order.created", "order.updated"], clock)
    watch.on_assign(partitions("order.created"))  # order.updated did not exist yet
    broker.metadata = Topics("order.created", "order.updated")  # ... and now it does

    clock.now += 19
    watch.check()  # within the grace: librdkafka may still rebalance on its own
    clock.now += 1
    watch.check()  # left out at the first check
    clock.now += 9
    watch.check()  # not a check yet

    clock.now += 1
    with pytest.raises(TopicsLeftOut, match=r"topics order.updated exist, but nobody in the group has consumed "
                                            r"them since the assignment 30 s ago"):
        watch.check()


def test_a_topic_another_member_holds_is_no_reason_to_give_up():
    """More members than the topic has partitions: the broker says another member holds them."""
    clock = Clock()
    broker = Broker("a", "b", members=(partitions("a"), partitions("b")))
    watch = assignment_watch(broker, ["a", "b"], clock)
    watch.on_assign(partitions("a"))
    for _ in range(10):
        clock.now += 10
        watch.check()


def test_topics_that_do_not_exist_or_a_rebalance_under_way_are_no_reason_to_give_up():
    clock, broker = Clock(), Broker("a")
    watch = assignment_watch(broker, ["a", "b"], clock)
    watch.on_assign(partitions("a"))  # "b" is not on the broker
    for _ in range(10):
        clock.now += 10
        watch.check()
    broker.metadata = Topics("a", "b")
    watch.on_revoke(partitions("a"))  # a rebalance under way, for as long as it takes
    for _ in range(10):
        clock.now += 10
        watch.check()
    watch.on_assign(partitions("a", "b"))
    for _ in range(10):
        clock.now += 10
        watch.check()


@pytest.mark.django_db(transaction=True)
def test_the_runner_gives_up_when_its_group_left_out_a_topic(kafka_broker, topics, monkeypatch):
    """The real consumer on the real broker (which describes no members: the runner's own
    assignment counts), with an assignment that leaves a topic out as the chaos run saw."""
    monkeypatch.setattr(ConsumerRunner, "_assignment_grace", staticmethod(lambda: 2.0))
    on_assign = AssignmentWatch.on_assign

    def without_updates(watch, assigned):
        on_assign(watch, [partition for partition in assigned if partition.topic != topics["updated"]])

    monkeypatch.setattr(AssignmentWatch, "on_assign", without_updates)
    runner = ConsumerRunner(handlers={topics["created"]: widget_created, topics["updated"]: widget_updated},
                            group_id=f"group-{topics['prefix']}")
    gave_up: list[Exception] = []

    def run() -> None:
        try:
            runner.run()
        except ConsumerGaveUp as exc:
            gave_up.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    if thread.is_alive():
        runner.stop()
        thread.join(20)
    assert [str(exc).split(",")[0] for exc in gave_up] == [f"subscribed topics {topics['updated']} exist"]
