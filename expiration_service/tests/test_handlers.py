"""order.created schedules a deadline; order.cancelled and order.completed stand it down."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from expirations.models import Expiration
from expirations.services import expirations_fire_due
from tests.conftest import order_created_data, order_ended_data
from tests.factories import ExpirationFactory, due
from ticketing_shared.events.models import ProcessedEvent
from ticketing_shared.events.registry import PoisonMessage

pytestmark = pytest.mark.django_db


def test_order_created_stores_the_orders_deadline(deliver):
    order_id = uuid.uuid4()
    expires_at = timezone.now() + timedelta(minutes=15)

    assert deliver("order.created", order_created_data(order_id=order_id, expires_at=expires_at)) is True

    expiration = Expiration.objects.get()
    assert expiration.order_id == order_id
    assert expiration.expires_at == expires_at
    assert expiration.status == Expiration.Status.PENDING
    assert expiration.fired_at is None


def test_a_redelivered_order_created_creates_one_expiration(deliver):
    data = order_created_data()
    event_id = str(uuid.uuid4())

    assert deliver("order.created", data, event_id=event_id) is True
    assert deliver("order.created", data, event_id=event_id) is False

    assert Expiration.objects.count() == 1
    assert ProcessedEvent.objects.filter(event_id=event_id).count() == 1


def test_a_duplicate_order_created_under_another_event_id_keeps_the_first_deadline(deliver):
    order_id = uuid.uuid4()
    first = timezone.now() + timedelta(minutes=15)
    deliver("order.created", order_created_data(order_id=order_id, expires_at=first))

    assert deliver("order.created", order_created_data(order_id=order_id, expires_at=first + timedelta(hours=1)))

    assert list(Expiration.objects.values_list("order_id", "expires_at")) == [(order_id, first)]


@pytest.mark.parametrize(
    "change",
    [
        {"id": "not-a-uuid"},
        {"id": None},
        {"expires_at": "tomorrow"},
        {"expires_at": None},
    ],
    ids=["bad id", "null id", "bad deadline", "null deadline"],
)
def test_an_order_created_that_can_never_apply_is_poison_and_changes_nothing(deliver, change):
    data = {**order_created_data(), **change}

    with pytest.raises(PoisonMessage):
        deliver("order.created", data)

    assert not Expiration.objects.exists()
    assert not ProcessedEvent.objects.exists()


def test_an_order_created_without_its_deadline_is_poison(deliver):
    data = order_created_data()
    del data["expires_at"]

    with pytest.raises(PoisonMessage):
        deliver("order.created", data)
    assert not Expiration.objects.exists()


@pytest.mark.parametrize(
    ("event_type", "status"),
    [("order.cancelled", Expiration.Status.ORDER_CANCELLED), ("order.completed", Expiration.Status.ORDER_COMPLETED)],
)
def test_an_order_that_ended_before_its_deadline_never_fires(deliver, outbox, event_type, status):
    expiration = ExpirationFactory(**due(seconds_ago=5))

    deliver(event_type, order_ended_data(expiration.order_id))

    expiration.refresh_from_db()
    assert expiration.status == status
    assert expirations_fire_due() == 0
    assert outbox("expiration.complete") == []


@pytest.mark.parametrize("event_type", ["order.cancelled", "order.completed"])
def test_an_order_end_that_overtakes_order_created_still_prevents_firing(deliver, outbox, event_type):
    order_id = uuid.uuid4()
    expires_at = timezone.now() - timedelta(seconds=1)

    deliver(event_type, order_ended_data(order_id))
    expiration = Expiration.objects.get()
    assert expiration.status != Expiration.Status.PENDING
    assert expiration.expires_at is None

    deliver("order.created", order_created_data(order_id=order_id, expires_at=expires_at))

    expiration.refresh_from_db()
    assert expiration.status != Expiration.Status.PENDING
    assert expiration.expires_at == expires_at  # learnt for the record
    assert expirations_fire_due() == 0
    assert outbox("expiration.complete") == []


def test_an_order_end_after_the_expiration_fired_keeps_it_fired(deliver, outbox):
    expiration = ExpirationFactory(**due())
    assert expirations_fire_due() == 1

    deliver("order.cancelled", order_ended_data(expiration.order_id))
    deliver("order.completed", order_ended_data(expiration.order_id, version=2))

    expiration.refresh_from_db()
    assert expiration.status == Expiration.Status.FIRED
    assert len(outbox("expiration.complete")) == 1


def test_the_first_end_of_an_order_is_the_one_recorded(deliver):
    expiration = ExpirationFactory()

    deliver("order.completed", order_ended_data(expiration.order_id))
    deliver("order.cancelled", order_ended_data(expiration.order_id, version=2))

    expiration.refresh_from_db()
    assert expiration.status == Expiration.Status.ORDER_COMPLETED


def test_an_order_created_after_its_deadline_fires_at_the_next_poll(deliver, outbox):
    order_id = uuid.uuid4()
    deliver("order.created", order_created_data(order_id=order_id, expires_at=timezone.now() - timedelta(minutes=1)))

    assert expirations_fire_due() == 1
    assert outbox("expiration.complete") == [
        {"type": "expiration.complete", "aggregateid": str(order_id), "data": {"order_id": str(order_id)}}
    ]


def test_an_order_end_with_a_bad_id_is_poison(deliver):
    with pytest.raises(PoisonMessage):
        deliver("order.cancelled", {"id": "nope", "version": 1, "ticket": {"id": str(uuid.uuid4())}})
    assert not Expiration.objects.exists()
