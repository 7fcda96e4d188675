"""The consumer runner: idempotency, version ordering, dead letters."""

import io
import time
import uuid

import pytest
from django.core.management import call_command

from ticketing_shared.events.consumer import Received, dead_letter, replay_dead_letter
from ticketing_shared.events.kafka import ensure_topics, get_admin
from ticketing_shared.events.models import DeadLetter, ParkedEvent, ProcessedEvent
from ticketing_shared.testing.helpers import envelope, produce_raw
from ticketing_shared.versioning import ConcurrentUpdateError

from .conftest import AppliedLog, Widget, wait_for, widget_created, widget_updated

pytestmark = pytest.mark.django_db(transaction=True)


def widget(widget_id, version, name="w"):
    return {"id": str(widget_id), "name": name, "version": version}


def test_a_redelivered_event_changes_nothing(topics, run_consumer):
    widget_id = uuid.uuid4()
    event_id = str(uuid.uuid4())
    message = envelope(topics["created"], widget(widget_id, 0), event_id=event_id)
    produce_raw(topics["created"], message, key=str(widget_id))
    produce_raw(topics["created"], message, key=str(widget_id))
    produce_raw(topics["created"], envelope(topics["created"], widget(uuid.uuid4(), 0)), key=str(widget_id))

    run_consumer()
    wait_for(lambda: ProcessedEvent.objects.count() == 2)
    time.sleep(0.5)
    assert AppliedLog.objects.filter(event_id=event_id).count() == 1
    assert AppliedLog.objects.count() == 2


def test_an_unparseable_message_is_dead_lettered_and_the_next_one_applied(topics, run_consumer, kafka_reader):
    widget_id = uuid.uuid4()
    produce_raw(topics["created"], b"\xff not json", key=str(widget_id))
    produce_raw(topics["created"], envelope(topics["created"], widget(widget_id, 0)), key=str(widget_id))

    run_consumer()
    wait_for(lambda: Widget.objects.filter(id=widget_id).exists())
    [dead] = DeadLetter.objects.all()
    assert dead.topic == topics["created"]
    assert dead.status == DeadLetter.Status.PENDING
    assert "Not JSON" in dead.error
    dlq = [m for m in _read_raw(kafka_reader, "shared-test.dlq") if m["source-topic"] == topics["created"]]
    assert len(dlq) == 1 and dlq[0]["offset"] == str(dead.offset)


def _read_raw(kafka_reader, topic):
    reader = kafka_reader(topic)
    found = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        message = reader.poll(0.2)
        if message is None or message.error():
            if found:
                break
            continue
        headers = {k: v.decode() for k, v in (message.headers() or [])}
        found.append({"source-topic": headers.get("source-topic"), "offset": headers.get("source-offset")})
    return found


def test_an_event_of_unknown_type_is_dead_lettered(topics, run_consumer):
    widget_id = uuid.uuid4()
    produce_raw(topics["created"], envelope("no.such.type", widget(widget_id, 0)), key=str(widget_id))
    produce_raw(topics["created"], envelope(topics["created"], widget(widget_id, 0)), key=str(widget_id))
    run_consumer()
    wait_for(lambda: Widget.objects.filter(id=widget_id).exists())
    assert DeadLetter.objects.get().event_type == "no.such.type"


def test_an_early_version_waits_for_the_one_before_it(topics, run_consumer):
    widget_id = uuid.uuid4()
    # Updates come on their own topic, so they can overtake the creation.
    produce_raw(topics["updated"], envelope(topics["updated"], widget(widget_id, 1, "v1")), key=str(widget_id))
    produce_raw(topics["updated"], envelope(topics["updated"], widget(widget_id, 2, "v2")), key=str(widget_id))
    run_consumer()
    time.sleep(2)
    assert not Widget.objects.filter(id=widget_id).exists(), "nothing to update yet"

    produce_raw(topics["created"], envelope(topics["created"], widget(widget_id, 0, "v0")), key=str(widget_id))
    wait_for(lambda: Widget.objects.filter(id=widget_id, version=2).exists())
    assert Widget.objects.get(id=widget_id).name == "v2"
    applied = list(AppliedLog.objects.filter(type=topics["updated"]).order_by("seq").values_list("version", flat=True))
    assert applied == [1, 2], "each update applied once, in order"
    assert DeadLetter.objects.count() == 0


def test_an_early_event_waits_by_the_clock_not_by_attempts(topics, run_consumer, settings):
    """Dozens of quick retries must not dead-letter it: its predecessor may be minutes behind."""
    settings.CONSUMER = {**settings.CONSUMER, "RETRY_BACKOFF_SECONDS": 0.01, "RETRY_BACKOFF_MAX_SECONDS": 0.01,
                         "EARLY_EVENT_MAX_WAIT_SECONDS": 60}
    widget_id = uuid.uuid4()
    produce_raw(topics["updated"], envelope(topics["updated"], widget(widget_id, 1, "v1")), key=str(widget_id))
    run_consumer()
    time.sleep(2)  # ~200 attempts
    assert DeadLetter.objects.count() == 0

    produce_raw(topics["created"], envelope(topics["created"], widget(widget_id, 0, "v0")), key=str(widget_id))
    wait_for(lambda: Widget.objects.filter(id=widget_id, version=1).exists())


def test_an_event_early_for_too_long_is_dead_lettered(topics, run_consumer, settings):
    settings.CONSUMER = {**settings.CONSUMER, "RETRY_BACKOFF_SECONDS": 0.05, "EARLY_EVENT_MAX_WAIT_SECONDS": 0.5}
    widget_id = uuid.uuid4()
    produce_raw(topics["updated"], envelope(topics["updated"], widget(widget_id, 1, "v1")), key=str(widget_id))
    run_consumer()

    dead = wait_for(lambda: DeadLetter.objects.first())
    assert "version" in dead.error


def test_a_stale_version_is_ignored(topics, run_consumer):
    widget_id = uuid.uuid4()
    Widget.objects.create(id=widget_id, name="v3", version=3)
    produce_raw(topics["updated"], envelope(topics["updated"], widget(widget_id, 2, "old")), key=str(widget_id))
    run_consumer()
    wait_for(lambda: ProcessedEvent.objects.count() == 1)
    assert Widget.objects.get(id=widget_id).name == "v3"


def test_a_handler_failing_past_its_budget_is_dead_lettered_then_replayed_once(topics, run_consumer, settings):
    settings.CONSUMER = {**settings.CONSUMER, "RETRY_ATTEMPTS": 3, "RETRY_BACKOFF_SECONDS": 0.05}
    calls = []

    def flaky(event):
        calls.append(event.id)
        raise ValueError("handler bug")

    widget_id = uuid.uuid4()
    produce_raw(topics["created"], envelope(topics["created"], widget(widget_id, 0)), key=str(widget_id))
    produce_raw(topics["updated"], envelope(topics["updated"], widget(widget_id, 0)), key=str(widget_id))
    run_consumer(handlers={topics["created"]: flaky, topics["updated"]: lambda event: None})
    dead = wait_for(lambda: DeadLetter.objects.first())
    assert len(calls) == 3
    assert "handler bug" in dead.error and dead.attempts == 3
    assert ProcessedEvent.objects.filter(type=topics["updated"]).exists()
    assert not ProcessedEvent.objects.filter(type=topics["created"]).exists()

    from ticketing_shared.events import registry

    registry._handlers[topics["created"]] = widget_created
    try:
        assert replay_dead_letter(dead) is True
        assert replay_dead_letter(DeadLetter.objects.get(pk=dead.pk)) is False
    finally:
        del registry._handlers[topics["created"]]
    assert AppliedLog.objects.filter(type=topics["created"]).count() == 1
    assert DeadLetter.objects.get(pk=dead.pk).status == DeadLetter.Status.REPLAYED


def test_optimistic_concurrency_refuses_a_stale_write():
    widget_id = uuid.uuid4()
    Widget.objects.create(id=widget_id, name="a", version=0)
    first, second = Widget.objects.get(id=widget_id), Widget.objects.get(id=widget_id)
    first.name = "first"
    first.save_versioned(update_fields=["name"])
    second.name = "second"
    with pytest.raises(ConcurrentUpdateError):
        second.save_versioned(update_fields=["name"])
    stored = Widget.objects.get(id=widget_id)
    assert (stored.name, stored.version) == ("first", 1)


# -- parked events: nothing stops a partition ------------------------------------------


def test_an_early_event_does_not_delay_another_aggregate_on_its_partition(topics, run_consumer):
    early, other = uuid.uuid4(), uuid.uuid4()
    early_id = str(uuid.uuid4())
    on_one_partition = {"partition": 0}
    produce_raw(topics["updated"], envelope(topics["updated"], widget(early, 1), event_id=early_id),
                key=str(early), **on_one_partition)
    produce_raw(topics["created"], envelope(topics["created"], widget(other, 0)), key=str(other), **on_one_partition)
    produce_raw(topics["updated"], envelope(topics["updated"], widget(other, 1, "v1")), key=str(other),
                **on_one_partition)
    run_consumer()

    wait_for(lambda: Widget.objects.filter(id=other, version=1).exists(), timeout=5)
    parked = ParkedEvent.objects.get()
    assert (str(parked.event_id), parked.reason) == (early_id, ParkedEvent.Reason.EARLY)

    produce_raw(topics["created"], envelope(topics["created"], widget(early, 0)), key=str(early))
    wait_for(lambda: Widget.objects.filter(id=early, version=1).exists(), timeout=5)
    assert ParkedEvent.objects.count() == 0
    assert DeadLetter.objects.count() == 0


def test_a_failing_event_holds_up_its_aggregate_only(topics, run_consumer, settings):
    """Another aggregate on the same partition flows; the failing one's next event waits behind it."""
    settings.CONSUMER = {**settings.CONSUMER, "RETRY_BACKOFF_SECONDS": 0.5}
    failing, other = uuid.uuid4(), uuid.uuid4()
    failures = []

    def recording(event):
        if event.data["id"] == str(failing) and event.data["version"] == 0 and len(failures) < 2:
            failures.append(event.id)
            raise ValueError("flaky dependency")
        AppliedLog.objects.create(event_id=event.id, type=event.data["id"], version=event.data["version"])

    for aggregate, version in [(failing, 0), (other, 0), (failing, 1), (other, 1)]:
        produce_raw(topics["created"], envelope(topics["created"], widget(aggregate, version)), key=str(aggregate),
                    partition=0)
    run_consumer(handlers={topics["created"]: recording})

    wait_for(lambda: AppliedLog.objects.filter(type=str(failing)).count() == 2)
    order = list(AppliedLog.objects.order_by("seq").values_list("type", "version"))
    assert order[:2] == [(str(other), 0), (str(other), 1)], "the other aggregate did not wait"
    assert order[2:] == [(str(failing), 0), (str(failing), 1)], "one aggregate's events apply in order"
    assert len(failures) == 2
    assert ParkedEvent.objects.count() == 0 and DeadLetter.objects.count() == 0


def test_a_parked_event_applies_after_a_rebalance(topics, run_consumer):
    """A second consumer joins the group and leaves (a deploy) while an event waits: it still applies."""
    widget_id = uuid.uuid4()
    first = run_consumer()
    produce_raw(topics["updated"], envelope(topics["updated"], widget(widget_id, 1, "v1")), key=str(widget_id))
    wait_for(lambda: ParkedEvent.objects.filter(key=str(widget_id)).exists())

    second = run_consumer()
    wait_for(lambda: second.consumer is not None and second.consumer.assignment(), timeout=30)
    time.sleep(1)
    second.stop()
    partitions = sum(len(get_admin().list_topics(topic, timeout=10).topics[topic].partitions)
                     for topic in (topics["created"], topics["updated"]))
    wait_for(lambda: len(first.consumer.assignment()) == partitions, timeout=30)  # all of them again

    produce_raw(topics["created"], envelope(topics["created"], widget(widget_id, 0, "v0")), key=str(widget_id))
    stored = wait_for(lambda: Widget.objects.filter(id=widget_id, version=1).first(), timeout=10)
    assert stored.name == "v1"
    assert ParkedEvent.objects.count() == 0


def replay_all(topic: str) -> tuple[io.StringIO, io.StringIO]:
    """``replay_dead_letters`` with the widget update handler registered for ``topic``."""
    from ticketing_shared.events import registry

    out, err = io.StringIO(), io.StringIO()
    registry._handlers[topic] = widget_updated
    try:
        call_command("replay_dead_letters", stdout=out, stderr=err)
    finally:
        del registry._handlers[topic]
    return out, err


def test_a_bulk_replay_applies_letters_dead_lettered_out_of_version_order(topics):
    """Two early events of one widget can run out of time in either order; the replay
    still ends at the newest version. Before: letters were tried once in row order, v2
    failed (v1 not there yet), and the widget stayed at v1."""
    widget_id = uuid.uuid4()
    for version in (2, 1):  # dead-lettered newest first
        DeadLetter.objects.create(topic=topics["updated"], partition=0, offset=version, key=str(widget_id),
                                  value=envelope(topics["updated"], widget(widget_id, version, f"v{version}")),
                                  event_type=topics["updated"], error="early", fingerprint=f"early:{version}")
    Widget.objects.create(id=widget_id, name="v0", version=0)

    out, _err = replay_all(topics["updated"])

    assert Widget.objects.get(id=widget_id).name == "v2"
    assert set(DeadLetter.objects.values_list("status", flat=True)) == {DeadLetter.Status.REPLAYED}
    assert "2 applied, 0 already applied, 0 failed" in out.getvalue()


def test_a_bulk_replay_stops_when_a_pass_applies_nothing_and_reports_what_failed(topics):
    widget_id = uuid.uuid4()  # no v0 and no v1: v2 can never apply
    DeadLetter.objects.create(topic=topics["updated"], partition=0, offset=2, key=str(widget_id),
                              value=envelope(topics["updated"], widget(widget_id, 2, "v2")),
                              event_type=topics["updated"], error="early", fingerprint="early:2")

    out, err = replay_all(topics["updated"])

    assert DeadLetter.objects.get().status == DeadLetter.Status.PENDING
    assert "0 applied, 0 already applied, 1 failed (still pending)" in out.getvalue()
    assert err.getvalue().count("failed again") == 1


def test_an_operator_replay_restores_the_order_after_a_predecessor_never_came(topics, run_consumer, settings):
    settings.CONSUMER = {**settings.CONSUMER, "RETRY_BACKOFF_SECONDS": 0.05, "EARLY_EVENT_MAX_WAIT_SECONDS": 0.5}
    widget_id = uuid.uuid4()
    for version in (1, 2):
        produce_raw(topics["updated"], envelope(topics["updated"], widget(widget_id, version, f"v{version}")),
                    key=str(widget_id))
    run_consumer()
    wait_for(lambda: DeadLetter.objects.count() == 2 and not ParkedEvent.objects.exists())
    assert list(DeadLetter.objects.order_by("id").values_list("event_type", flat=True)) == [topics["updated"]] * 2

    produce_raw(topics["created"], envelope(topics["created"], widget(widget_id, 0, "v0")), key=str(widget_id))
    wait_for(lambda: Widget.objects.filter(id=widget_id).exists())
    from ticketing_shared.events import registry

    registry._handlers[topics["updated"]] = widget_updated
    try:
        call_command("replay_dead_letters", stdout=io.StringIO(), stderr=io.StringIO())
    finally:
        del registry._handlers[topics["updated"]]
    assert Widget.objects.get(id=widget_id).name == "v2"
    assert set(DeadLetter.objects.values_list("status", flat=True)) == {DeadLetter.Status.REPLAYED}


def test_dead_letters_are_told_apart_by_event_id_not_by_offset(kafka_broker, topics):
    """A broker that lost its log reuses offsets: a new dead letter must not inherit an old row."""
    def received(event_id):
        value = envelope(topics["created"], widget(uuid.uuid4(), 0), event_id=event_id)
        return Received(topics["created"], 0, 7, "key", value.encode(), {"type": topics["created"]})

    first_id, second_id = str(uuid.uuid4()), str(uuid.uuid4())
    old = dead_letter(received(first_id), ValueError("old"), 1, dlq_topic="shared-test.dlq")
    DeadLetter.objects.filter(pk=old.pk).update(status=DeadLetter.Status.DISCARDED)

    new = dead_letter(received(second_id), ValueError("new"), 1, dlq_topic="shared-test.dlq")
    assert new.pk != old.pk
    assert (str(new.event_id), new.status) == (second_id, DeadLetter.Status.PENDING)
    assert DeadLetter.objects.get(pk=old.pk).status == DeadLetter.Status.DISCARDED

    again = dead_letter(received(second_id), ValueError("again"), 2, dlq_topic="shared-test.dlq")
    assert again.pk == new.pk and again.attempts == 2 and "again" in again.error


def test_topics_are_created_with_the_configured_partition_count(kafka_broker, topics, settings):
    settings.KAFKA = {**settings.KAFKA, "PARTITIONS": 5}
    name = f"{topics['prefix']}.partitioned"
    ensure_topics([name])
    assert len(get_admin().list_topics(name, timeout=10).topics[name].partitions) == 5


def test_an_early_event_does_not_hold_back_its_predecessor_arriving_after_it_on_the_same_topic(topics, run_consumer):
    """After a broker loss events are sent again in any order: version 2 may come before version 1
    on the same topic. Parking version 1 behind the waiting version 2 would wait forever."""
    widget_id = uuid.uuid4()
    produce_raw(topics["created"], envelope(topics["created"], widget(widget_id, 0, "v0")), key=str(widget_id))
    produce_raw(topics["updated"], envelope(topics["updated"], widget(widget_id, 2, "v2")), key=str(widget_id))
    run_consumer()
    wait_for(lambda: ParkedEvent.objects.filter(key=str(widget_id), reason=ParkedEvent.Reason.EARLY).exists())

    produce_raw(topics["updated"], envelope(topics["updated"], widget(widget_id, 1, "v1")), key=str(widget_id))
    stored = wait_for(lambda: Widget.objects.filter(id=widget_id, version=2).first(), timeout=10)
    assert stored.name == "v2"
    assert ParkedEvent.objects.count() == 0 and DeadLetter.objects.count() == 0


def test_applied_offsets_are_committed_in_the_background_while_it_runs(topics, run_consumer):
    """Offsets are stored once each event's transaction committed and committed by librdkafka
    about once a second (not one commit request per event), while the runner goes on."""
    from confluent_kafka import TopicPartition

    from ticketing_shared.events.kafka import new_consumer

    for _ in range(5):
        widget_id = uuid.uuid4()
        produce_raw(topics["created"], envelope(topics["created"], widget(widget_id, 0)), key=str(widget_id))
    run_consumer()
    wait_for(lambda: ProcessedEvent.objects.count() == 5)
    partitions = get_admin().list_topics(topics["created"], timeout=10).topics[topics["created"]].partitions

    def committed() -> int:
        reader = new_consumer(**{"group.id": f"group-{topics['prefix']}", "enable.auto.commit": False})
        try:
            offsets = reader.committed([TopicPartition(topics["created"], p) for p in partitions], timeout=10)
        finally:
            reader.close()
        return sum(max(tp.offset, 0) for tp in offsets)

    wait_for(lambda: committed() == 5, timeout=10)
