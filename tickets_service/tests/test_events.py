"""What really reaches Kafka: the envelope of docs/events.md, keyed by the ticket id, in order."""

import uuid

import pytest

from tests.conftest import SELLER_ID
from tests.factories import order_created
from ticketing_shared.events.relay import relay_outbox
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def messages_for(reader, key: str, count: int) -> list[dict]:
    """The first ``count`` messages keyed ``key`` (other tests' messages may share the topics)."""
    found: list[dict] = []
    for _ in range(50):
        found += [m for m in reader.read(1, timeout=2) if m["key"] == key]
        if len(found) >= count:
            break
    return found


# A ticket listed without the event's details still says so in its events (null / empty).
DETAILS = {"starts_at": None, "venue": "", "city": "", "category": "other", "description": ""}


def test_ticket_events_are_published_to_kafka_with_the_spec_envelope(seller, kafka_reader, deliver):
    created = seller.post("/api/tickets", {"title": "Opera night", "price": "45.5"}, format="json").json()
    seller.put(f"/api/tickets/{created['id']}", {"title": "Opera night, box", "price": 60}, format="json")
    order = order_created(Ticket.objects.get(pk=created["id"]))
    deliver("order.created", order)

    assert relay_outbox() == 3

    reader = kafka_reader("ticket.created", "ticket.updated")
    # Topics are not ordered among each other; within one topic and key they are.
    messages = sorted(messages_for(reader, created["id"], 3), key=lambda m: m["topic"])
    assert [m["topic"] for m in messages] == ["ticket.created", "ticket.updated", "ticket.updated"]
    for message in messages:
        value = message["value"]
        assert set(value) == {"id", "type", "occurred_at", "source", "data"}
        assert uuid.UUID(value["id"])
        assert value["type"] == message["topic"]
        assert value["source"] == "tickets"
        assert value["occurred_at"][:4].isdigit() and "T" in value["occurred_at"]
        assert message["headers"]["id"] == value["id"] and message["headers"]["type"] == value["type"]
    assert [m["value"]["data"] for m in messages] == [
        {"id": created["id"], "title": "Opera night", "price": "45.50", "user_id": SELLER_ID, "version": 0,
         **DETAILS},
        {
            "id": created["id"],
            "title": "Opera night, box",
            "price": "60.00",
            "user_id": SELLER_ID,
            "order_id": None,
            "owner_id": None,
            "version": 1,
            **DETAILS,
            "unlisted": False,
        },
        {
            "id": created["id"],
            "title": "Opera night, box",
            "price": "60.00",
            "user_id": SELLER_ID,
            "order_id": order["id"],
            "owner_id": None,
            "version": 2,
            **DETAILS,
            "unlisted": False,
        },
    ]
    assert relay_outbox() == 0, "each event is sent once"
