"""3-D Secure: a card that needs authentication is finished in the browser, not refused.

``tests/test_payments.py`` runs it against the local Stripe double; these tests stand in
for Stripe at our adapter (``payments.stripe_gateway``) with PaymentIntent objects shaped
as Stripe documents them (the API reference's PaymentIntent object, and
``next_action.type = "use_stripe_sdk"`` for 3-D Secure), for the states the double does
not produce the way Stripe does.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from payments import stripe_gateway as gateway
from payments.models import Payment
from tests.conftest import pay
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def stripe_intent(order, status: str, **extra) -> dict:
    """A PaymentIntent as Stripe's API returns it (the fields we read, and a few around them)."""
    intent_id = extra.pop("id", "pi_3MtwBwLkdIwHu7ix28a3tqPa")
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": int(order.price * 100),
        "amount_received": int(order.price * 100) if status == "succeeded" else 0,
        "currency": "usd",
        "client_secret": f"{intent_id}_secret_YrKJUKribcBjcG8HVhfZluoGH",
        "confirmation_method": "automatic",
        "capture_method": "automatic",
        "livemode": False,
        "metadata": {"order_id": str(order.id)},
        "payment_method": "pm_card_authenticationRequired",
        "status": status,
        "last_payment_error": None,
        "next_action": {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
        if status == "requires_action" else None,
        **extra,
    }


@pytest.fixture
def order(db):
    return OrderFactory(price=Decimal("45.00"))


@pytest.fixture
def buyer(authed_client, order):
    return authed_client(user_id=str(order.user_id), email="buyer@example.com")


@pytest.fixture
def stripe(monkeypatch, order):
    """Stripe, at our adapter: the intent is created, confirming it asks for 3-D Secure."""
    state = {"intent": stripe_intent(order, "requires_payment_method"), "cancelled": []}

    def create_intent(**kwargs):
        state["intent"]["metadata"] = kwargs["metadata"]
        return gateway.Intent.from_stripe(state["intent"])

    def confirm_intent(intent_id, **kwargs):
        state["intent"] = {**stripe_intent(order, "requires_action"), "metadata": state["intent"]["metadata"]}
        return gateway.Intent.from_stripe(state["intent"])

    def retrieve_intent(intent_id):
        return gateway.Intent.from_stripe(state["intent"])

    monkeypatch.setattr(gateway, "create_intent", create_intent)
    monkeypatch.setattr(gateway, "confirm_intent", confirm_intent)
    monkeypatch.setattr(gateway, "retrieve_intent", retrieve_intent)
    monkeypatch.setattr(gateway, "cancel_intent_quietly", state["cancelled"].append)
    return state


def test_a_card_needing_authentication_gets_its_client_secret(buyer, order, stripe, outbox):
    response = pay(buyer, order.id, "pm_card_authenticationRequired")

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "requires_action"
    assert body["client_secret"] == stripe["intent"]["client_secret"]
    assert body["amount"] == "45.00" and body["stripe_id"] == stripe["intent"]["id"]
    payment = Payment.objects.get()
    assert (payment.status, payment.stripe_id) == ("pending", stripe["intent"]["id"])
    assert stripe["cancelled"] == [] and outbox("payment.created") == []


def test_once_authenticated_in_the_browser_the_payment_completes_the_order(buyer, order, stripe, outbox):
    payment_id = pay(buyer, order.id, "pm_card_authenticationRequired").json()["id"]
    # Stripe.js confirmed it with the client secret; Stripe now reports the intent succeeded
    stripe["intent"] = {**stripe["intent"], "status": "succeeded", "next_action": None,
                        "amount_received": stripe["intent"]["amount"]}

    response = buyer.post(f"/api/payments/{payment_id}/confirm")

    assert response.status_code == 200, response.json()
    assert response.json() == {"id": payment_id, "order_id": str(order.id), "stripe_id": stripe["intent"]["id"],
                               "amount": "45.00", "status": "succeeded"}
    [event] = outbox("payment.created")
    assert event["data"]["order_id"] == str(order.id) and event["data"]["amount"] == "45.00"
    # asking again changes nothing
    assert buyer.post(f"/api/payments/{payment_id}/confirm").json()["status"] == "succeeded"
    assert len(outbox("payment.created")) == 1


def test_confirming_before_the_buyer_authenticated_is_refused(buyer, order, stripe):
    payment_id = pay(buyer, order.id, "pm_card_authenticationRequired").json()["id"]

    response = buyer.post(f"/api/payments/{payment_id}/confirm")

    assert response.status_code == 400
    assert Payment.objects.get().status == "pending"


def test_a_failed_authentication_frees_the_order_for_another_card(buyer, order, stripe):
    payment_id = pay(buyer, order.id, "pm_card_authenticationRequired").json()["id"]
    # What Stripe reports after a failed 3-D Secure: back to requires_payment_method
    stripe["intent"] = {**stripe["intent"], "status": "requires_payment_method", "next_action": None,
                        "last_payment_error": {"code": "payment_intent_authentication_failure",
                                               "message": "The provided PaymentMethod has failed authentication."}}

    response = buyer.post(f"/api/payments/{payment_id}/confirm")

    assert response.status_code == 402
    assert response.json()["errors"][0]["message"] == "The provided PaymentMethod has failed authentication."
    assert not Payment.objects.exists() and stripe["cancelled"] == [stripe["intent"]["id"]]


def test_only_the_buyer_confirms(authed_client, buyer, order, stripe):
    payment_id = pay(buyer, order.id, "pm_card_authenticationRequired").json()["id"]
    stranger = authed_client(user_id=str(uuid.uuid4()), email="x@example.com")

    assert stranger.post(f"/api/payments/{payment_id}/confirm").status_code == 403
    assert buyer.post(f"/api/payments/{uuid.uuid4()}/confirm").status_code == 404
