"""The consumer's guard against positions past the log's end, when the broker is slow to
answer right after it lost its data (the broker itself is the fake here: the real-broker
cases are in test_broker_loss.py)."""

import logging
from types import SimpleNamespace

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, KafkaError, KafkaException, TopicPartition

from ticketing_shared.events.offsets import LogEndGuard


class SlowBrokerConsumer:
    """A consumer assigned two partitions whose committed offset (500) is past the new log's
    end (3). The broker gives no committed offsets at first: ``fail`` says how (the whole
    call times out, or one partition comes back with an error)."""

    def __init__(self, fail: str) -> None:
        self.fail = fail
        self.committed_calls = 0
        self.seeks: list[TopicPartition] = []
        self.partitions = [TopicPartition("order.created", 0), TopicPartition("order.created", 1)]

    def committed(self, partitions, timeout):
        self.committed_calls += 1
        if self.committed_calls == 1 and self.fail == "call":
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        answer = [TopicPartition(p.topic, p.partition, 500) for p in partitions]
        if self.committed_calls == 1 and self.fail == "partition":
            answer[0] = SimpleNamespace(topic="order.created", partition=0, offset=OFFSET_INVALID,
                                        error=KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS))
        return answer

    def assignment(self):
        return self.partitions

    def position(self, partitions):  # nothing delivered since the assignment
        return [TopicPartition(p.topic, p.partition, OFFSET_INVALID) for p in partitions]

    def get_watermark_offsets(self, partition, cached):
        return 0, 3

    def seek(self, partition):
        self.seeks.append(partition)


class NoTopicIds:
    def describe_topics(self, topics, request_timeout):
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("fail", ["call", "partition"])
def test_committed_offsets_the_broker_did_not_give_at_assignment_are_asked_for_again(caplog, fail):
    caplog.set_level(logging.INFO, logger="ticketing_shared.events.offsets")
    consumer, clock = SlowBrokerConsumer(fail), Clock()
    guard = LogEndGuard(consumer, NoTopicIds(), interval=1, clock=clock)

    guard.on_assign(consumer.partitions)
    unread = "order.created [0, 1]" if fail == "call" else "order.created [0]"
    assert f"Could not read the committed offsets of {unread} (asked again in 10 s)" in caplog.text

    clock.now += 1
    guard.check()  # not asked again yet: a broker that does not answer is not asked every second
    assert consumer.committed_calls == 1
    assert len(consumer.seeks) == (0 if fail == "call" else 1)  # a partition whose offset came is judged

    clock.now += 10
    guard.check()
    assert consumer.committed_calls == 2
    assert sorted((p.partition, p.offset) for p in consumer.seeks) == [(0, OFFSET_BEGINNING), (1, OFFSET_BEGINNING)]
    assert guard.resets == 2

    clock.now += 60
    guard.check()  # known now, and already reading from the beginning: not asked again
    assert consumer.committed_calls == 2
    assert len(consumer.seeks) == 2
