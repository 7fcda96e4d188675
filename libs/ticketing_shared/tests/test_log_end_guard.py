"""The consumer's guard against positions past the log's end, when the broker is slow to
answer right after it lost its data (the broker itself is the fake here: the real-broker
cases are in test_broker_loss.py)."""

import logging

from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, KafkaError, KafkaException, TopicPartition

from ticketing_shared.events.offsets import LogEndGuard


class SlowBrokerConsumer:
    """A consumer assigned one partition whose committed offset (500) is past the new log's
    end (3), and whose first ``committed`` call times out."""

    def __init__(self) -> None:
        self.committed_calls = 0
        self.seeks: list[TopicPartition] = []
        self.partition = TopicPartition("order.created", 0)

    def committed(self, partitions, timeout):
        self.committed_calls += 1
        if self.committed_calls == 1:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        return [TopicPartition(p.topic, p.partition, 500) for p in partitions]

    def assignment(self):
        return [self.partition]

    def position(self, partitions):  # nothing delivered since the assignment
        return [TopicPartition(p.topic, p.partition, OFFSET_INVALID) for p in partitions]

    def get_watermark_offsets(self, partition, cached):
        return 0, 3

    def seek(self, partition):
        self.seeks.append(partition)


class NoTopicIds:
    def describe_topics(self, topics, request_timeout):
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT))


def test_committed_offsets_the_broker_did_not_give_at_assignment_are_asked_for_again(caplog):
    caplog.set_level(logging.INFO, logger="ticketing_shared.events.offsets")
    consumer = SlowBrokerConsumer()
    guard = LogEndGuard(consumer, NoTopicIds(), interval=0)

    guard.on_assign([consumer.partition])
    assert "Could not read the committed offsets of order.created [0]" in caplog.text

    guard.check()
    assert consumer.committed_calls == 2
    assert [(p.topic, p.partition, p.offset) for p in consumer.seeks] == [("order.created", 0, OFFSET_BEGINNING)]
    assert guard.resets == 1

    guard.check()  # known now, and already reading from the beginning: not asked again
    assert consumer.committed_calls == 2
    assert len(consumer.seeks) == 1
