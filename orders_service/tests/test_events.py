"""The whole event loop on the real broker: consumed through the consumer runner,
published through the outbox relay, keyed by the order id."""

import threading
import uuid

import pytest

from orders.models import Order, Ticket
from tests.conftest import BUYER_ID, reserve
from ticketing_shared.events.consumer import ConsumerRunner
from ticketing_shared.events.relay import relay_outbox
from ticketing_shared.testing.helpers import envelope, produce_raw, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def consumer(kafka_broker):
    """This service's consumer runner with its registered handlers, in a thread."""
    runner = ConsumerRunner(group_id=f"orders-test-{uuid.uuid4().hex[:8]}")
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    yield runner
    runner.stop()
    thread.join(20)
    assert not thread.is_alive(), "consumer did not stop"


def published(kafka_reader, topic: str, key: str) -> dict:
    reader = kafka_reader(topic)
    return wait_for(lambda: next((m for m in reader.read(1, timeout=1) if m["key"] == key), None))


def test_an_order_goes_round_the_event_loop(consumer, kafka_reader, buyer):
    assert set(consumer.handlers) >= {"ticket.created", "ticket.updated", "expiration.complete", "payment.created"}
    ticket_id, seller = str(uuid.uuid4()), str(uuid.uuid4())
    produce_raw(
        "ticket.created",
        envelope(
            "ticket.created",
            {
                "id": ticket_id,
                "title": "Opera",
                "price": "45.00",
                "user_id": seller,
                "version": 0,
            },
        ),
        key=ticket_id,
    )
    wait_for(lambda: Ticket.objects.filter(pk=ticket_id).exists())

    response = reserve(buyer, ticket_id)
    assert response.status_code == 201
    order_id = response.json()["id"]
    assert relay_outbox() == 1

    created = published(kafka_reader, "order.created", order_id)
    assert created["headers"]["type"] == "order.created"
    assert created["headers"]["id"] == created["value"]["id"]
    assert created["value"]["source"] == "orders"
    data = created["value"]["data"]
    assert (data["id"], data["status"], data["user_id"], data["version"]) == (order_id, "created", BUYER_ID, 0)
    assert data["ticket"] == {"id": ticket_id, "price": "45.00"}

    produce_raw(
        "payment.created",
        envelope(
            "payment.created",
            {
                "id": str(uuid.uuid4()),
                "order_id": order_id,
                "stripe_id": "pi_1",
                "amount": "45.00",
            },
        ),
        key=order_id,
    )
    wait_for(lambda: Order.objects.filter(pk=order_id, status="complete").exists())
    assert relay_outbox() == 1

    completed = published(kafka_reader, "order.completed", order_id)
    data = completed["value"]["data"]
    assert data == {"id": order_id, "version": 1, "ticket": {"id": ticket_id}, "tickets": [{"id": ticket_id}],
                    "user_id": data["user_id"]}
