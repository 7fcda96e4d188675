"""The typed event contract: schemas, typed handlers, and the generated documents."""

import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction

from ticketing_shared.events import publish
from ticketing_shared.events.asyncapi import stale
from ticketing_shared.events.models import OutboxEvent
from ticketing_shared.events.registry import Event, PoisonMessage, handles
from ticketing_shared.events.schemas import SCHEMAS, OrderCreated, TicketCreated, TicketUpdated
from ticketing_shared.testing.helpers import envelope

REPOSITORY = Path(__file__).resolve().parents[3]


def ticket(**overrides):
    return {"id": str(uuid.uuid4()), "title": "Concert", "price": "10.00", "user_id": str(uuid.uuid4()),
            "version": 0, **overrides}


def event_of(topic, data, source=None):
    return Event.parse(envelope(topic, data, source=source))


def test_the_generated_documents_are_up_to_date():
    assert stale(REPOSITORY / "docs") == [], "run `make docs` and commit docs/"


def test_every_topic_has_one_schema_owned_by_one_service():
    assert set(SCHEMAS) == {"ticket.created", "ticket.updated", "order.created", "order.updated", "order.cancelled",
                            "order.completed", "gift.created", "gift.claimed", "gift.revoked",
                            "expiration.complete", "payment.created", "payment.refunded"}
    assert {schema.source for schema in SCHEMAS.values()} == {"tickets", "orders", "expiration", "payments"}


def test_money_is_one_type_written_as_a_string_with_two_decimals():
    data = TicketCreated.from_event(event_of("ticket.created", ticket(price="7.5")))
    assert data.price == Decimal("7.50")
    assert data.to_json()["price"] == "7.50"
    for bad in ("-1.00", "1.234", "123456789.00", "ten"):
        with pytest.raises(PoisonMessage, match="price"):
            TicketCreated.from_event(event_of("ticket.created", ticket(price=bad)))


def test_unknown_fields_are_ignored_and_later_fields_are_optional():
    data = TicketUpdated.from_event(event_of("ticket.updated", ticket(version=3, venue="Hall", extra=[1])))
    assert data.order_id is None and data.version == 3


@pytest.mark.parametrize("change", [{"version": -1}, {"version": "1"}, {"id": "nope"}, {"title": None}])
def test_data_that_breaks_the_schema_is_a_poison_message(change):
    with pytest.raises(PoisonMessage, match="does not match its schema"):
        TicketCreated.from_event(event_of("ticket.created", ticket(**change)))


def test_an_event_from_a_service_that_does_not_own_the_topic_is_refused():
    """Anyone who can reach the broker could write payment.created; only payments may."""
    with pytest.raises(PoisonMessage, match="only 'tickets'"):
        TicketCreated.from_event(event_of("ticket.created", ticket(), source="orders"))


def test_a_typed_handler_receives_validated_data():
    received = []
    topic = f"t{uuid.uuid4().hex[:6]}.typed"

    class Typed(TicketCreated):
        pass

    Typed.topic = topic
    from ticketing_shared.events import registry

    handles(Typed)(received.append)
    try:
        registry.handler_for(topic)(event_of(topic, ticket(price="3"), source="tickets"))
    finally:
        del registry._handlers[topic]
    assert isinstance(received[0], Typed) and received[0].price == Decimal("3.00")


@pytest.mark.django_db
def test_publish_writes_the_typed_event_keyed_by_its_aggregate():
    order_id, ticket_id = uuid.uuid4(), uuid.uuid4()
    with transaction.atomic():
        publish(OrderCreated(id=order_id, status="created", user_id=uuid.uuid4(), expires_at="2030-01-01T00:00:00Z",
                             version=0, ticket={"id": ticket_id, "price": Decimal("12")}))
    row = OutboxEvent.objects.get()
    assert (row.type, row.aggregatetype, row.aggregateid) == ("order.created", "order", str(order_id))
    assert row.payload["ticket"] == {"id": str(ticket_id), "price": "12.00"}


def test_order_events_from_before_carts_still_apply_and_name_their_one_ticket():
    from ticketing_shared.events.schemas import OrderCancelled, OrderUpdated

    ticket_id = str(uuid.uuid4())
    old = {"id": str(uuid.uuid4()), "status": "created", "user_id": str(uuid.uuid4()),
           "expires_at": "2030-01-01T00:00:00Z", "version": 0, "ticket": {"id": ticket_id, "price": "12.50"}}
    created = OrderCreated.from_event(event_of("order.created", old, source="orders"))
    assert [str(t.id) for t in created.all_tickets()] == [ticket_id]
    assert created.order_total() == Decimal("12.50")
    cancelled = OrderCancelled.from_event(
        event_of("order.cancelled", {"id": old["id"], "version": 1, "ticket": {"id": ticket_id}}, source="orders"))
    assert [str(t.id) for t in cancelled.all_tickets()] == [ticket_id] and cancelled.user_id is None
    with pytest.raises(PoisonMessage, match="tickets"):
        OrderUpdated.from_event(event_of("order.updated", old, source="orders"))


def test_a_cart_event_carries_every_ticket_and_the_total():
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    data = {"id": str(uuid.uuid4()), "status": "created", "user_id": str(uuid.uuid4()),
            "expires_at": "2030-01-01T00:00:00Z", "version": 0, "ticket": {"id": first, "price": "10.00"},
            "tickets": [{"id": first, "price": "10.00"}, {"id": second, "price": "5.00"}], "total": "15.00"}
    created = OrderCreated.from_event(event_of("order.created", data, source="orders"))
    assert [str(t.id) for t in created.all_tickets()] == [first, second]
    assert created.order_total() == Decimal("15.00")
