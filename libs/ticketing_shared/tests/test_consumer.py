"""The consumer runner: idempotency, version ordering, dead letters."""

import time
import uuid

import pytest

from ticketing_shared.events.consumer import replay_dead_letter
from ticketing_shared.events.models import DeadLetter, ProcessedEvent
from ticketing_shared.testing.helpers import envelope, produce_raw
from ticketing_shared.versioning import ConcurrentUpdateError

from .conftest import AppliedLog, Widget, wait_for, widget_created

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
        message = reader.consumer.poll(0.2)
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
