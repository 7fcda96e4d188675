"""``POST /api/payments``: every row of its table in docs/api.md, against the real localstripe."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from payments import services
from payments import stripe_gateway as gateway
from payments.models import Order, Payment
from tests.conftest import (
    DECLINED_CARD,
    DECLINED_ON_ATTACH_CARD,
    card_method,
    card_token,
    charged_intent,
    intents_for,
    pay,
    refunds_for,
)
from tests.factories import OrderFactory, PaymentFactory

pytestmark = pytest.mark.django_db


def test_paying_charges_the_price_and_records_the_payment(buyer, order, outbox):
    response = pay(buyer, order.id)

    assert response.status_code == 201, response.json()
    body = response.json()
    payment = Payment.objects.get()
    assert body == {
        "id": str(payment.id),
        "order_id": str(order.id),
        "stripe_id": payment.stripe_id,
        "amount": "20.00",
        "status": "succeeded",
    }
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.amount == Decimal("20.00") and payment.currency == "usd"
    [intent] = intents_for(order.id)
    assert intent.id == payment.stripe_id
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 2000, "usd")
    assert intent.metadata["payment_id"] == str(payment.id)
    assert outbox("payment.created") == [
        {
            "type": "payment.created",
            "aggregateid": str(payment.id),
            "data": {
                "id": str(payment.id),
                "order_id": str(order.id),
                "stripe_id": payment.stripe_id,
                "amount": "20.00",
            },
        }
    ]


def test_the_amount_is_charged_in_cents(authed_client):
    order = OrderFactory(price=Decimal("1234.56"))

    response = pay(authed_client(user_id=str(order.user_id)), order.id)

    assert response.status_code == 201
    assert response.json()["amount"] == "1234.56"
    [intent] = intents_for(order.id)
    assert intent.amount == 123456


def test_paying_with_a_stripe_js_card_token(buyer, order, outbox):
    response = pay(buyer, order.id, card_token())

    assert response.status_code == 201, response.json()
    [intent] = intents_for(order.id)
    assert intent.status == "succeeded"
    assert intent.customer.startswith("cus_")
    assert len(outbox("payment.created")) == 1


def test_paying_needs_a_token(api_client, order):
    response = pay(api_client, order.id)

    assert response.status_code == 401
    assert response.json()["errors"][0]["message"]
    assert not Payment.objects.exists()


def test_an_expired_token_is_refused(api_client, make_token, order):
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {make_token(user_id=str(order.user_id), lifetime=timedelta(seconds=-60))}"
    )

    assert pay(api_client, order.id).status_code == 401


def test_only_the_buyer_may_pay(authed_client, order, outbox):
    response = pay(authed_client(user_id=str(uuid.uuid4())), order.id)

    assert response.status_code == 403
    assert response.json() == {"errors": [{"message": "You can only pay for your own orders."}]}
    assert not Payment.objects.exists()
    assert intents_for(order.id) == []
    assert outbox() == []


def test_an_unknown_order_is_404(authed_client):
    response = pay(authed_client(), uuid.uuid4())

    assert response.status_code == 404
    assert response.json() == {"errors": [{"message": "Order not found."}]}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"payment_method": "pm_card_visa"}, "order_id", "This field is required."),
        ({"order_id": "not-a-uuid", "payment_method": "pm_card_visa"}, "order_id", "Must be a valid UUID."),
        ({"order_id": str(uuid.uuid4())}, "payment_method", "This field is required."),
        (
            {"order_id": str(uuid.uuid4()), "payment_method": "4242424242424242"},
            "payment_method",
            "Expected a Stripe PaymentMethod id (pm_...) or a card token (tok_...).",
        ),
    ],
)
def test_invalid_input_is_400(buyer, body, field, message):
    response = buyer.post("/api/payments", body, format="json")

    assert response.status_code == 400
    assert {"message": message, "field": field} in response.json()["errors"]
    assert not Payment.objects.exists()


def test_a_payment_method_stripe_does_not_know_is_400(buyer, order, outbox):
    response = pay(buyer, order.id, "pm_does_not_exist")

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "payment_method"
    assert not Payment.objects.exists()
    assert outbox() == []


def test_a_cancelled_order_cannot_be_paid(authed_client, outbox):
    order = OrderFactory(status=Order.Status.CANCELLED, version=1)

    response = pay(authed_client(user_id=str(order.user_id)), order.id)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Order is cancelled"}]}
    assert intents_for(order.id) == []
    assert not Payment.objects.exists()


def test_an_expired_order_cannot_be_paid_even_before_it_is_cancelled(authed_client, outbox):
    order = OrderFactory(expires_at=timezone.now() - timedelta(seconds=1))

    response = pay(authed_client(user_id=str(order.user_id)), order.id)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Order has expired"}]}
    assert intents_for(order.id) == []
    assert not Payment.objects.exists()


def test_a_paid_order_cannot_be_paid_again_and_is_charged_once(buyer, order, outbox):
    first = pay(buyer, order.id)

    second = pay(buyer, order.id)

    assert first.status_code == 201
    assert second.status_code == 400
    assert second.json() == {"errors": [{"message": "Order already paid"}]}
    assert [intent.status for intent in intents_for(order.id)] == ["succeeded"]
    assert Payment.objects.count() == 1
    assert len(outbox("payment.created")) == 1


def test_a_complete_order_counts_as_paid(authed_client):
    order = OrderFactory(status=Order.Status.COMPLETE, version=1)

    response = pay(authed_client(user_id=str(order.user_id)), order.id)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Order already paid"}]}


def test_a_declined_card_is_402_with_stripes_message_and_records_nothing(buyer, order, outbox):
    response = pay(buyer, order.id, card_method(DECLINED_CARD))

    assert response.status_code == 402
    assert response.json() == {"errors": [{"message": "Your card was declined."}]}
    assert not Payment.objects.exists()
    assert outbox() == []
    order.refresh_from_db()
    assert (order.status, order.version) == (Order.Status.CREATED, 0)
    [intent] = intents_for(order.id)
    assert intent.status == "canceled"  # the declined intent can never be charged later


def test_after_a_decline_another_card_pays(buyer, order, outbox):
    assert pay(buyer, order.id, card_method(DECLINED_CARD)).status_code == 402

    response = pay(buyer, order.id, "pm_card_visa")

    assert response.status_code == 201
    assert sorted(intent.status for intent in intents_for(order.id)) == ["canceled", "succeeded"]
    assert len(outbox("payment.created")) == 1


def test_a_token_whose_card_is_declined_is_402(buyer, order):
    response = pay(buyer, order.id, card_token(DECLINED_ON_ATTACH_CARD))

    assert response.status_code == 402
    assert response.json() == {"errors": [{"message": "Your card was declined."}]}
    assert not Payment.objects.exists()


def test_stripe_unreachable_is_503_and_a_retry_then_pays(buyer, order, outbox, stripe_outage):
    stripe_outage.start()
    response = pay(buyer, order.id)

    assert response.status_code == 503
    assert response.json() == {"errors": [{"message": "Payment provider unavailable, please try again"}]}
    assert not Payment.objects.exists()
    assert outbox() == []

    stripe_outage.end()
    assert pay(buyer, order.id).status_code == 201


def test_a_second_request_while_one_is_charging_is_told_so(buyer, order):
    PaymentFactory(order=order, attempt=uuid.uuid4(), lease_until=timezone.now() + timedelta(seconds=60))

    response = pay(buyer, order.id)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "A payment for this order is already in progress"}]}
    assert intents_for(order.id) == []


def test_a_retry_records_the_charge_of_an_attempt_that_died_after_charging(buyer, order, outbox):
    """The first request charged the card and died before recording: the retry must not charge again."""
    intent = charged_intent(order.id)
    PaymentFactory(
        order=order, stripe_id=intent.id, attempt=uuid.uuid4(), lease_until=timezone.now() - timedelta(seconds=1)
    )

    response = pay(buyer, order.id)

    assert response.status_code == 201, response.json()
    assert response.json()["stripe_id"] == intent.id
    assert [i.id for i in intents_for(order.id)] == [intent.id]  # no second charge
    payment = Payment.objects.get()
    assert payment.status == Payment.Status.SUCCEEDED and payment.attempt is None
    assert [event["data"]["stripe_id"] for event in outbox("payment.created")] == [intent.id]


def test_a_retry_cancels_an_attempt_that_died_before_confirming_and_pays(buyer, order, outbox):
    stale = charged_intent(order.id, confirm=False)
    PaymentFactory(order=order, stripe_id=stale.id, attempt=None, lease_until=None)

    response = pay(buyer, order.id)

    assert response.status_code == 201, response.json()
    assert response.json()["stripe_id"] != stale.id
    statuses = {intent.id: intent.status for intent in intents_for(order.id)}
    assert statuses == {stale.id: "canceled", response.json()["stripe_id"]: "succeeded"}
    assert len(outbox("payment.created")) == 1


def test_each_attempt_has_its_own_idempotency_key(buyer, order):
    """A new attempt after a decline must not replay the decline, as a key of the bare order id would."""
    pay(buyer, order.id, card_method(DECLINED_CARD))
    pay(buyer, order.id)

    order.refresh_from_db()
    assert order.payment_attempts == 2


def test_a_payment_that_loses_the_race_with_the_expiry_is_refunded(buyer, order, outbox, monkeypatch, deliver):
    """Stripe charged, but the order was cancelled before we recorded it: refund, never payment.created."""
    confirm = gateway.confirm_intent

    def confirm_then_expire(intent_id, **kwargs):
        confirmed = confirm(intent_id, **kwargs)  # the real charge, at localstripe
        deliver("order.cancelled", {"id": str(order.id), "version": 1, "ticket": {"id": str(order.ticket_id)}})
        return confirmed

    monkeypatch.setattr(gateway, "confirm_intent", confirm_then_expire)

    response = pay(buyer, order.id)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": services.REFUNDED_AFTER_CANCEL}]}
    payment = Payment.objects.get()
    assert payment.status == Payment.Status.REFUNDED
    [refund] = refunds_for(payment.stripe_id)
    assert (refund.id, refund.amount) == (payment.refund_id, 2000)
    assert outbox("payment.created") == []
    assert [event["data"] for event in outbox("payment.refunded")] == [
        {"id": str(payment.id), "order_id": str(order.id), "stripe_id": payment.stripe_id, "amount": "20.00"}
    ]


def test_payment_created_reaches_kafka_keyed_by_the_payment(buyer, order, kafka_reader):
    """The message key is the aggregate id (docs/events.md), and a payment event's aggregate is the payment."""
    from ticketing_shared.events.relay import relay_outbox

    reader = kafka_reader("payment.created")
    payment_id = pay(buyer, order.id).json()["id"]
    relay_outbox()

    messages = reader.read_key(payment_id)
    assert len(messages) == 1
    assert messages[0]["key"] == payment_id
    assert messages[0]["value"]["data"]["id"] == payment_id
    assert messages[0]["value"]["type"] == "payment.created"
    assert messages[0]["value"]["source"] == "payments"
    assert messages[0]["value"]["data"]["order_id"] == str(order.id)
    assert messages[0]["headers"]["type"] == "payment.created"


def test_the_openapi_schema_is_served(api_client):
    response = api_client.get("/api/payments/schema/")

    assert response.status_code == 200
    assert b"/api/payments/webhook" in response.content


def authenticate_in_the_browser(client_secret: str, *, success: bool) -> None:
    """What Stripe.js does with the client secret once the buyer answered the 3-D Secure
    step (localstripe's stand-in for the bank's page)."""
    import requests
    from django.conf import settings

    intent_id = client_secret.split("_secret_")[0]
    response = requests.post(
        f"{settings.STRIPE['API_BASE']}/v1/payment_intents/{intent_id}/_authenticate",
        params={"success": "true" if success else "false"},
        json={"key": "pk_test_local", "client_secret": client_secret},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_a_card_that_needs_3d_secure_is_authenticated_in_the_browser_then_paid(buyer, order, outbox):
    response = pay(buyer, order.id, card_method("4000002500003155"))

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "requires_action" and body["client_secret"].startswith(body["stripe_id"])
    assert Payment.objects.get().status == "pending" and outbox("payment.created") == []
    assert buyer.post(f"/api/payments/{body['id']}/confirm").status_code == 400  # not yet

    authenticate_in_the_browser(body["client_secret"], success=True)
    confirmed = buyer.post(f"/api/payments/{body['id']}/confirm")

    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["status"] == "succeeded" and confirmed.json()["amount"] == "20.00"
    assert [intent.status for intent in intents_for(order.id)] == ["succeeded"]
    assert len(outbox("payment.created")) == 1


def test_a_failed_3d_secure_records_nothing_and_another_card_pays(buyer, order, outbox):
    body = pay(buyer, order.id, card_method("4000002500003155")).json()
    authenticate_in_the_browser(body["client_secret"], success=False)

    failed = buyer.post(f"/api/payments/{body['id']}/confirm")

    assert failed.status_code == 402
    assert not Payment.objects.exists()
    assert pay(buyer, order.id).status_code == 201


def test_a_timeout_after_stripe_charged_is_503_and_the_retry_records_that_charge(buyer, order, outbox, monkeypatch):
    """Stripe charged but its answer never arrived: the retry must find that charge, not make another."""
    confirm = gateway.confirm_intent

    def confirm_then_lose_the_answer(intent_id, **kwargs):
        confirm(intent_id, **kwargs)
        raise gateway.ProviderUnavailable()

    monkeypatch.setattr(gateway, "confirm_intent", confirm_then_lose_the_answer)
    first = pay(buyer, order.id)
    monkeypatch.setattr(gateway, "confirm_intent", confirm)

    assert first.status_code == 503
    assert first.json() == {"errors": [{"message": "Payment provider unavailable, please try again"}]}
    assert outbox() == []
    [charged] = intents_for(order.id)

    retry = pay(buyer, order.id)

    assert retry.status_code == 201, retry.json()
    assert retry.json()["stripe_id"] == charged.id
    assert [intent.id for intent in intents_for(order.id)] == [charged.id]
    assert len(outbox("payment.created")) == 1


def test_a_dead_attempt_whose_intent_stripe_does_not_know_is_replaced(buyer, order):
    PaymentFactory(order=order, stripe_id="pi_unknown_to_stripe", attempt=None, lease_until=None)

    response = pay(buyer, order.id)

    assert response.status_code == 201, response.json()
    assert response.json()["stripe_id"] != "pi_unknown_to_stripe"
