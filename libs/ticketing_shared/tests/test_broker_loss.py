"""A broker that lost its data (tansu keeps its log in memory: a restart is exactly that).

The relay and the consumers must reconnect on their own and new events must flow; a
consumer whose position is past the new log's end must start from its beginning instead
of waiting silently. Events the broker lost are the runbook's job (``republish_events``).
"""

import subprocess
import time
import uuid

import pytest

from ticketing_shared.events import kafka, relay
from ticketing_shared.events.outbox import record_event
from ticketing_shared.testing.plugin import _free_port, _tansu_binary

from .conftest import Widget, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


class OwnBroker:
    """A tansu of the test's own, which it may kill and start again empty."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([_tansu_binary(), "broker", "--listener-url", url,
                                         "--advertised-listener-url", url],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)


@pytest.fixture
def own_broker(settings):
    broker = OwnBroker()
    broker.start()
    settings.KAFKA = {**settings.KAFKA, "COMMON": {**settings.KAFKA["COMMON"],
                                                   "bootstrap.servers": f"127.0.0.1:{broker.port}"}}
    kafka._producer = kafka._admin = None  # clients for this broker
    wait_for(lambda: kafka.broker_reachable(timeout=1.0), timeout=10)
    yield broker
    broker.kill()
    kafka._producer = kafka._admin = None  # and for the suite's broker again


def publish_widget(topic):
    from django.db import transaction

    widget_id = uuid.uuid4()
    with transaction.atomic():
        record_event(aggregate_type="widget", aggregate_id=widget_id, event_type=topic,
                     data={"id": str(widget_id), "name": "w", "version": 0})
    return widget_id


def relayed(widget_id):
    relay.relay_outbox(max_seconds=5)
    return Widget.objects.filter(id=widget_id).exists()


def test_relay_and_consumer_recover_from_a_broker_that_lost_its_data(own_broker, topics, run_consumer):
    run_consumer()
    before = [publish_widget(topics["created"]) for _ in range(30)]
    wait_for(lambda: relayed(before[-1]) and Widget.objects.count() == 30, timeout=30)

    own_broker.kill()
    time.sleep(1)
    own_broker.start()

    # The consumer's position (about ten per partition) is past the new, empty log's end,
    # and the relay's idempotent producer is unknown to the new broker.
    after = publish_widget(topics["created"])
    wait_for(lambda: relayed(after), timeout=60, interval=0.5)
    assert Widget.objects.count() == 31


def test_a_consumer_whose_committed_offsets_are_past_the_log_end_starts_at_its_beginning(
    kafka_broker, topics, run_consumer
):
    """What a group finds when its offsets survived but the log did not: it must not wait
    silently for the new log to grow past them (tansu answers such fetches with nothing)."""
    from confluent_kafka import Consumer, TopicPartition
    from django.conf import settings

    from ticketing_shared.testing.helpers import envelope, produce_raw

    widget_id = uuid.uuid4()
    produce_raw(topics["created"], envelope(topics["created"], {"id": str(widget_id), "name": "w", "version": 0}),
                key=str(widget_id), partition=0)
    other = Consumer({**settings.KAFKA["COMMON"], "group.id": f"group-{topics['prefix']}"})
    partitions = kafka.get_admin().list_topics(topics["created"], timeout=10).topics[topics["created"]].partitions
    other.commit(offsets=[TopicPartition(topics["created"], p, 500) for p in partitions], asynchronous=False)
    other.close()

    run_consumer()
    wait_for(lambda: Widget.objects.filter(id=widget_id).exists(), timeout=30)
