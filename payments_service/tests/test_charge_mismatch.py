"""A charge is the order's payment only when Stripe charged exactly the order's total, in our currency.

Whatever reports a succeeded PaymentIntent (the paying request, the webhook, the sweep),
an intent of another amount or currency is refunded, logged as critical and never
recorded; the order stays unpaid. Against the real localstripe.
"""

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from payments import services
from payments import stripe_gateway as gateway
from payments.models import Payment
from payments.services import payments_reconcile
from tests.conftest import charged_intent, intents_for, pay, refunds_for, stripe_event
from tests.factories import OrderFactory, PaymentFactory

pytestmark = pytest.mark.django_db


def assert_refunded_and_nothing_recorded(intent_id: str, outbox) -> None:
    assert [refund.status for refund in refunds_for(intent_id)] == ["succeeded"]
    assert not Payment.objects.exists()
    assert outbox() == []


def critical(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.CRITICAL]


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        pytest.param(1000, "usd", id="less"),
        pytest.param(2001, "usd", id="a cent more"),
        pytest.param(2000, "eur", id="another currency"),
        pytest.param(20, "jpy", id="same digits, zero-decimal currency"),
    ],
)
def test_a_webhook_charge_of_another_total_is_refunded_and_never_the_orders_payment(
    order, post_webhook, outbox, caplog, amount, currency
):
    intent = charged_intent(order.id, amount=amount, currency=currency)

    response = post_webhook(stripe_event("payment_intent.succeeded", intent))

    assert response.status_code == 200  # acknowledged: Stripe has nothing to send again
    assert_refunded_and_nothing_recorded(intent.id, outbox)
    [message] = critical(caplog)
    assert intent.id in message and str(order.id) in message and "refunding" in message


def test_the_order_can_still_be_paid_after_a_mismatched_charge(order, buyer, post_webhook, outbox):
    post_webhook(stripe_event("payment_intent.succeeded", charged_intent(order.id, amount=1)))

    response = pay(buyer, order.id)

    assert response.status_code == 201, response.json()
    assert len(outbox("payment.created")) == 1


def test_the_total_is_the_price_in_our_replica(post_webhook, outbox):
    order = OrderFactory(price=Decimal("1234.56"))

    response = post_webhook(stripe_event("payment_intent.succeeded", charged_intent(order.id, amount=123456)))

    assert response.status_code == 200

    assert Payment.objects.get().status == Payment.Status.SUCCEEDED
    assert len(outbox("payment.created")) == 1


def test_a_change_of_the_configured_currency_refuses_charges_in_the_old_one(order, post_webhook, outbox, settings):
    intent = charged_intent(order.id)  # 20.00 usd, the order's price
    settings.STRIPE = {**settings.STRIPE, "CURRENCY": "eur"}

    post_webhook(stripe_event("payment_intent.succeeded", intent))

    assert_refunded_and_nothing_recorded(intent.id, outbox)


def test_the_paying_request_is_told_and_nothing_is_recorded(buyer, order, outbox, monkeypatch, caplog):
    """Were our own PaymentIntent ever made for another amount, the buyer hears that it was refunded."""
    create = gateway.create_intent

    def create_for_another_amount(*, amount, **kwargs):
        return create(amount=amount + 100, **kwargs)

    monkeypatch.setattr(gateway, "create_intent", create_for_another_amount)

    response = pay(buyer, order.id)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": services.CHARGE_MISMATCH}]}
    [intent] = intents_for(order.id)
    assert (intent.status, intent.amount) == ("succeeded", 2100)
    assert_refunded_and_nothing_recorded(intent.id, outbox)
    assert critical(caplog)

    monkeypatch.undo()
    assert pay(buyer, order.id).status_code == 201  # the buyer may pay again, at the right total


def test_the_sweep_refunds_a_dead_attempt_that_charged_another_total(order, outbox):
    intent = charged_intent(order.id, amount=999)
    PaymentFactory(order=order, stripe_id=intent.id, attempt=uuid.uuid4(),
                   lease_until=timezone.now() - timedelta(seconds=1))

    assert payments_reconcile() == {"refunded": 0, "settled": 0, "abandoned": 1}

    assert_refunded_and_nothing_recorded(intent.id, outbox)


def test_a_mismatched_charge_during_a_stripe_outage_is_refunded_when_stripe_delivers_again(
    order, post_webhook, outbox, stripe_outage
):
    intent = charged_intent(order.id, amount=5)
    payload = stripe_event("payment_intent.succeeded", intent)
    stripe_outage.start()

    assert post_webhook(payload).status_code == 503  # Stripe delivers the event again later
    assert not Payment.objects.exists() and outbox() == []

    stripe_outage.end()
    assert post_webhook(payload).status_code == 200
    assert_refunded_and_nothing_recorded(intent.id, outbox)


def test_a_redelivered_mismatch_refunds_once(order, post_webhook, outbox):
    intent = charged_intent(order.id, amount=5)
    payload = stripe_event("payment_intent.succeeded", intent)

    post_webhook(payload)
    post_webhook(payload)

    assert_refunded_and_nothing_recorded(intent.id, outbox)
