"""Carts: the order's total is what is charged, and it follows order.updated."""

import uuid
from decimal import Decimal

import pytest

from payments.models import Order, Payment
from tests.conftest import intents_for
from ticketing_shared.events.registry import RetryLater

pytestmark = pytest.mark.django_db


def cart_data(order_id, *, version, prices) -> dict:
    tickets = [{"id": str(uuid.uuid4()), "price": price} for price in prices]
    return {
        "id": str(order_id), "status": "created", "user_id": str(uuid.uuid4()),
        "expires_at": "2030-01-01T12:15:00+00:00", "version": version, "ticket": tickets[0], "tickets": tickets,
        "total": str(sum(Decimal(p) for p in prices)),
    }


def test_order_created_of_several_tickets_keeps_the_total(deliver):
    data = cart_data(uuid.uuid4(), version=0, prices=["20.00", "15.50"])

    deliver("order.created", data)

    assert Order.objects.get(pk=data["id"]).price == Decimal("35.50")


def test_order_updated_changes_the_total_in_version_order(deliver):
    order_id = uuid.uuid4()
    with pytest.raises(RetryLater):
        deliver("order.updated", cart_data(order_id, version=1, prices=["20.00", "30.00"]))
    deliver("order.created", cart_data(order_id, version=0, prices=["20.00"]))

    deliver("order.updated", cart_data(order_id, version=1, prices=["20.00", "30.00"]))
    deliver("order.updated", cart_data(order_id, version=1, prices=["99.00"]), event_id=str(uuid.uuid4()))

    order = Order.objects.get(pk=order_id)
    assert (order.price, order.version) == (Decimal("50.00"), 1)


def test_paying_a_cart_charges_its_total_once(deliver, authed_client, outbox):
    data = cart_data(uuid.uuid4(), version=0, prices=["20.00", "30.00"])
    deliver("order.created", data)
    buyer = authed_client(user_id=data["user_id"], email="buyer@example.com")

    stale = buyer.post("/api/payments", {"order_id": data["id"], "payment_method": "pm_card_visa",
                                         "expected_total": "20.00"}, format="json")
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["field"] == "expected_total"
    assert not Payment.objects.exists() and intents_for(data["id"]) == []

    response = buyer.post("/api/payments", {"order_id": data["id"], "payment_method": "pm_card_visa",
                                            "expected_total": "50.00"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == "50.00"
    [intent] = intents_for(data["id"])
    assert intent.amount == 5000
    assert outbox("payment.created")[0]["data"]["amount"] == "50.00"
