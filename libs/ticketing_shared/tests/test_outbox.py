"""The transactional outbox and its relay, against real PostgreSQL and the real broker."""

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from ticketing_shared.events import relay
from ticketing_shared.events.models import OutboxEvent
from ticketing_shared.events.outbox import OutsideTransactionError, record_event

from .conftest import AppliedLog, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def publish_widget(topic: str, widget_id, version: int, name: str = "w") -> OutboxEvent:
    return record_event(
        aggregate_type="widget",
        aggregate_id=widget_id,
        event_type=topic,
        data={"id": str(widget_id), "name": name, "version": version},
    )


def test_publish_refuses_to_run_outside_a_transaction(topics):
    with pytest.raises(OutsideTransactionError):
        publish_widget(topics["created"], uuid.uuid4(), 0)
    assert OutboxEvent.objects.count() == 0


def test_a_rolled_back_change_publishes_nothing(topics):
    with pytest.raises(RuntimeError), transaction.atomic():
        publish_widget(topics["created"], uuid.uuid4(), 0)
        raise RuntimeError("the change failed")
    assert OutboxEvent.objects.count() == 0


def test_the_relay_publishes_the_envelope_keyed_by_aggregate(kafka_broker, kafka_reader, topics, settings):
    widget_id = uuid.uuid4()
    with transaction.atomic():
        event = publish_widget(topics["created"], widget_id, 0, name="gizmo")

    assert relay.relay_outbox() == 1

    [message] = kafka_reader(topics["created"]).read(1)
    assert message["key"] == str(widget_id)
    assert message["headers"]["id"] == str(event.id)
    assert message["headers"]["type"] == topics["created"]
    value = message["value"]
    assert value["id"] == str(event.id)
    assert value["type"] == topics["created"]
    assert value["source"] == settings.SERVICE_NAME
    assert value["data"] == {"id": str(widget_id), "name": "gizmo", "version": 0}
    assert value["occurred_at"].startswith(str(event.occurred_at.year))
    event.refresh_from_db()
    assert event.published_at is not None
    assert relay.relay_outbox() == 0


def test_a_relay_killed_after_producing_loses_nothing_and_the_consumer_applies_once(
    kafka_broker, kafka_reader, topics, run_consumer, monkeypatch
):
    widget_ids = [uuid.uuid4() for _ in range(5)]
    with transaction.atomic():
        for widget_id in widget_ids:
            publish_widget(topics["created"], widget_id, 0)

    def die(*args, **kwargs):
        raise SystemExit("relay killed between produce and mark")

    with monkeypatch.context() as patched:
        patched.setattr(relay, "_mark_published", die)
        with pytest.raises(SystemExit):
            relay.relay_outbox()

    # Produced but not marked: still pending; the next relay sends them again.
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 5
    assert relay.relay_outbox() == 5
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0

    messages = kafka_reader(topics["created"]).read(10, timeout=10)
    assert len(messages) == 10, "each event was sent twice: at least once delivery"

    run_consumer()
    wait_for(lambda: AppliedLog.objects.count() >= 5)
    time.sleep(1.5)  # give the duplicates time to (not) be applied
    assert AppliedLog.objects.count() == 5
    assert sorted(str(w) for w in AppliedLog.objects.values_list("event_id", flat=True)) == sorted(
        str(e) for e in OutboxEvent.objects.values_list("id", flat=True)
    )


def test_while_one_relay_drains_another_returns_at_once_and_the_events_still_leave(topics, kafka_reader):
    import psycopg
    from django.db import connection

    with transaction.atomic():
        publish_widget(topics["created"], uuid.uuid4(), 0)
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [relay.DRAIN_LOCK_KEY])  # another relay is draining
        assert relay.relay_outbox() == 0
        assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 1
    # Its connection closed: the lock goes with it, once the server has ended that session.
    assert wait_for(lambda: relay.relay_outbox(), timeout=10) == 1
    assert len(kafka_reader(topics["created"]).read(1)) == 1


def test_an_event_committed_behind_the_relays_position_is_still_sent(topics, kafka_reader, monkeypatch):
    """A transaction that took its sequence number first but committed last is not skipped."""
    first, late = uuid.uuid4(), uuid.uuid4()
    with transaction.atomic():
        free_seq = publish_widget(topics["created"], uuid.uuid4(), 0).seq  # a sequence number taken...
        publish_widget(topics["created"], first, 0)
    OutboxEvent.objects.filter(seq=free_seq).delete()  # ...by a transaction that has not committed yet
    late_event = None
    original_read = relay._read

    def read_then_commit_a_late_one(**kwargs):
        nonlocal late_event
        rows = original_read(**kwargs)
        if late_event is None:
            with transaction.atomic():
                late_event = publish_widget(topics["created"], late, 0)
            OutboxEvent.objects.filter(pk=late_event.pk).update(seq=free_seq)  # it commits now, behind us
        return rows

    monkeypatch.setattr(relay, "_read", read_then_commit_a_late_one)

    assert relay.relay_outbox() == 2
    keys = {m["key"] for m in kafka_reader(topics["created"]).read(2)}
    assert keys == {str(first), str(late)}


def test_two_relays_draining_one_outbox_keep_each_aggregates_order(kafka_broker, kafka_reader, topics):
    aggregates = [uuid.uuid4() for _ in range(4)]
    versions = 60
    with transaction.atomic():
        for version in range(versions):
            for widget_id in aggregates:
                publish_widget(topics["updated"], widget_id, version)

    errors: list[BaseException] = []

    def drain():
        try:
            while relay.relay_outbox(batch_size=7):
                pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0

    messages = kafka_reader(topics["updated"]).read(len(aggregates) * versions, timeout=30)
    assert len(messages) == len(aggregates) * versions
    for widget_id in aggregates:
        seen = [m["value"]["data"]["version"] for m in messages if m["key"] == str(widget_id)]
        assert seen == list(range(versions)), f"{widget_id} published out of order"


def test_prune_deletes_only_published_events_past_retention(topics):
    with transaction.atomic():
        old = publish_widget(topics["created"], uuid.uuid4(), 0)
        recent = publish_widget(topics["created"], uuid.uuid4(), 0)
        pending = publish_widget(topics["created"], uuid.uuid4(), 0)
    long_ago = timezone.now() - timedelta(days=30)
    OutboxEvent.objects.filter(pk=old.pk).update(published_at=long_ago, occurred_at=long_ago)
    OutboxEvent.objects.filter(pk=recent.pk).update(published_at=timezone.now())
    OutboxEvent.objects.filter(pk=pending.pk).update(occurred_at=long_ago)

    assert relay.prune_outbox(older_than_hours=24) == 1
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}


def test_commit_nudges_the_relay_once_per_transaction(topics, settings, monkeypatch):
    from ticketing_shared.events import outbox

    settings.OUTBOX = {**settings.OUTBOX, "NUDGE_ON_COMMIT": True}
    nudges = []
    monkeypatch.setattr(outbox, "_nudge_relay", lambda: nudges.append(1))
    with transaction.atomic():
        publish_widget(topics["created"], uuid.uuid4(), 0)
        publish_widget(topics["created"], uuid.uuid4(), 0)
        assert nudges == [], "not before the commit"
    assert nudges == [1]


def test_queued_nudges_are_shared_until_the_relay_task_starts(topics, settings, monkeypatch):
    from django.core.cache import cache

    from ticketing_shared.events import outbox, tasks

    settings.OUTBOX = {**settings.OUTBOX, "NUDGE_ON_COMMIT": True}
    cache.delete(outbox.NUDGE_PENDING_KEY)
    queued = []
    monkeypatch.setattr(tasks.relay_outbox, "apply_async", lambda **kwargs: queued.append(kwargs))
    monkeypatch.setattr(relay, "relay_outbox", lambda: 0)

    for version in range(3):
        with transaction.atomic():
            publish_widget(topics["created"], uuid.uuid4(), version)
    assert len(queued) == 1, "one queued task serves every commit before it starts"

    tasks.relay_outbox()  # the task starts: later commits need a task of their own
    with transaction.atomic():
        publish_widget(topics["created"], uuid.uuid4(), 0)
    assert len(queued) == 2


def test_after_a_refused_event_nothing_later_is_marked(monkeypatch):
    """Delivery reports count successes; a failure names its event, and it and every later one stay pending."""

    class Message:
        def __init__(self, event_id):
            self._headers = [("id", event_id.encode()), ("type", b"t")]

        def headers(self):
            return self._headers

    batch = [(seq, "key", "t", "{}", f"event-{seq}", []) for seq in (11, 12, 13, 14)]
    flight = relay._InFlight(batch)
    flight.report(None, Message("event-11"))
    flight.report(RuntimeError("MSG_TIMED_OUT"), Message("event-12"))
    flight.report(None, Message("event-13"))
    flight.report(None, Message("event-14"))
    marked = []
    monkeypatch.setattr(relay, "_mark_published", marked.extend)

    sent, whole = relay._settle(producer=None, flight=flight)

    assert (sent, whole) == (1, False)
    assert marked == [11], "13 and 14 are sent again after 12, never marked before it"


def test_the_relay_creates_a_topic_before_its_first_event_once(kafka_broker, monkeypatch):
    """A managed Kafka rarely creates topics on produce (tansu here does, so watch the call)."""
    topic = f"t{uuid.uuid4().hex[:8]}.nobody.consumes"
    created = []
    real_ensure = relay.ensure_topics
    monkeypatch.setattr(relay, "ensure_topics", lambda topics: created.append(topics) or real_ensure(topics))

    for version in range(2):
        with transaction.atomic():
            publish_widget(topic, uuid.uuid4(), version)
        assert relay.relay_outbox() == 1

    assert created == [[topic]], "created before the first event, then known"
