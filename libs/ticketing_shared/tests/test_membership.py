"""The consumer watches its group membership (librdkafka statistics) and gives up on a rejoin
that never completes while the broker is up; and it rejoins when its assignment left out a
subscribed topic that exists."""

import json
import logging
import threading
from types import SimpleNamespace

import pytest
from confluent_kafka import ConsumerGroupState, KafkaError, KafkaException, TopicPartition

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
    """The consumer's and the admin's broker: its topics, this member's assignment, and the
    group as the broker describes it (``members``: each member's partitions; None: the call fails)."""

    def __init__(self, *names: str, members: tuple[list[TopicPartition], ...] | None = (),
                 state: ConsumerGroupState = ConsumerGroupState.STABLE) -> None:
        self.metadata = Topics(*names)
        self.assigned: list[TopicPartition] = []
        self.members = members
        self.state = state

    def list_topics(self, timeout):
        return self.metadata

    def assignment(self):
        return self.assigned

    def describe_consumer_groups(self, group_ids, request_timeout):
        if self.members is None:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        members = [SimpleNamespace(assignment=SimpleNamespace(topic_partitions=held)) for held in self.members]
        description = SimpleNamespace(members=members, state=self.state)
        return {group_id: SimpleNamespace(result=lambda timeout: description) for group_id in group_ids}


def partitions(*topics: str) -> list[TopicPartition]:
    return [TopicPartition(topic, number) for topic in topics for number in (0, 1)]


class Member:
    """An AssignmentWatch on a fake broker, with a clock the test moves."""

    def __init__(self, broker: Broker, topics: list[str]) -> None:
        self.broker, self.clock = broker, Clock()
        self.watch = AssignmentWatch(broker, topics, group_id="payments", admin=broker, grace=20, clock=self.clock)

    def assign(self, *topics: str) -> None:
        self.broker.assigned = partitions(*topics)
        self.watch.on_assign(self.broker.assigned)

    def checks(self, seconds: int, every: int = 10) -> None:
        for _ in range(seconds // every):
            self.clock.now += every
            self.watch.check()


def test_a_subscribed_topic_the_assignment_left_out_makes_the_consumer_give_up():
    """The chaos run's finding: after a broker loss the group settled while some of its topics
    were still being created again, and librdkafka never rebalanced to take them in (tansu
    describes no members: this member's assignment is the group's)."""
    broker = Broker("order.created")
    member = Member(broker, ["order.created", "order.updated"])
    member.assign("order.created")  # order.updated did not exist yet
    broker.metadata = Topics("order.created", "order.updated")  # ... and now it does

    member.checks(19, every=1)  # within the grace: librdkafka may still rebalance on its own
    member.checks(1, every=1)  # left out, first seen
    member.checks(10)  # for ten seconds
    with pytest.raises(TopicsLeftOut, match=r"topics order.updated exist, but nobody in the group has held any of "
                                            r"their partitions for 20 s since the assignment 40 s ago"):
        member.checks(10)


def test_an_empty_assignment_on_a_broker_that_describes_no_members_gives_up_too():
    broker = Broker("a", "b")
    member = Member(broker, ["a", "b"])
    member.assign()
    with pytest.raises(TopicsLeftOut, match="topics a, b exist"):
        member.checks(60)


@pytest.mark.parametrize(
    "broker",
    [
        Broker("a", "b", members=(partitions("a"), partitions("a", "b"))),  # another member holds "b"
        Broker("a", "b", members=None),  # the group cannot be described
        Broker("a", "b", members=([], []), state=ConsumerGroupState.PREPARING_REBALANCING),  # reads empty
    ],
    ids=["held by another member", "not described", "mid-rebalance"],
)
def test_what_the_group_says_or_cannot_say_is_no_reason_to_give_up(broker):
    member = Member(broker, ["a", "b"])
    member.assign("a")
    member.checks(120)


def test_topics_that_do_not_exist_or_a_rebalance_under_way_are_no_reason_to_give_up():
    broker = Broker("a")
    member = Member(broker, ["a", "b"])
    member.assign("a")  # "b" is not on the broker
    member.checks(100)
    broker.metadata = Topics("a", "b")
    member.watch.on_revoke(partitions("a"))  # a rebalance under way, for as long as it takes
    member.checks(100)
    member.assign("a", "b")
    member.checks(100)


@pytest.mark.django_db(transaction=True)
def test_the_runner_gives_up_when_its_group_left_out_a_topic(kafka_broker, topics, monkeypatch):
    """The real consumer on the real broker (which describes no members: the runner's own
    assignment counts), with an assignment that leaves a topic out as the chaos run saw."""
    monkeypatch.setattr(ConsumerRunner, "_assignment_grace", staticmethod(lambda: 2.0))

    class AssignedWithoutUpdates:
        """The real consumer, whose assignment leaves the updates topic out."""

        def __init__(self, consumer) -> None:
            self.consumer = consumer

        def list_topics(self, **options):
            return self.consumer.list_topics(**options)

        def assignment(self):
            return [partition for partition in self.consumer.assignment() if partition.topic != topics["updated"]]

    watch_init = AssignmentWatch.__init__
    monkeypatch.setattr(AssignmentWatch, "__init__",
                        lambda watch, consumer, *args, **kwargs: watch_init(watch, AssignedWithoutUpdates(consumer),
                                                                            *args, **kwargs))
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
    assert "nobody in the group has held any of their partitions" in str(gave_up[0])
