"""The sweep finishes attempts whose request died, asking Stripe what became of them."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import Payment
from payments.services import payments_reconcile
from tests.conftest import charged_intent, intents_for
from tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db


def dead_attempt(order, intent_id=None, **fields):
    return PaymentFactory(
        order=order,
        stripe_id=intent_id,
        attempt=uuid.uuid4(),
        lease_until=timezone.now() - timedelta(seconds=1),
        **fields,
    )


def test_a_dead_attempt_that_charged_is_recorded(order, outbox):
    intent = charged_intent(order.id)
    dead_attempt(order, intent.id)

    assert payments_reconcile() == {"refunded": 0, "settled": 1, "abandoned": 0}

    payment = Payment.objects.get()
    assert (payment.status, payment.stripe_id) == (Payment.Status.SUCCEEDED, intent.id)
    assert [event["data"]["stripe_id"] for event in outbox("payment.created")] == [intent.id]


def test_a_dead_attempt_that_never_charged_is_cancelled_and_cleared(order, outbox):
    intent = charged_intent(order.id, confirm=False)
    dead_attempt(order, intent.id)

    assert payments_reconcile()["abandoned"] == 1

    assert not Payment.objects.exists()
    assert [i.status for i in intents_for(order.id)] == ["canceled"]
    assert outbox() == []


def test_a_dead_attempt_without_an_intent_is_cleared(order):
    dead_attempt(order)

    assert payments_reconcile()["abandoned"] == 1
    assert not Payment.objects.exists()


def test_a_live_attempt_is_left_alone(order):
    PaymentFactory(order=order, attempt=uuid.uuid4(), lease_until=timezone.now() + timedelta(seconds=60))

    assert payments_reconcile() == {"refunded": 0, "settled": 0, "abandoned": 0}
    assert Payment.objects.filter(status=Payment.Status.PENDING).exists()


def test_the_sweep_waits_out_a_stripe_outage(order, stripe_outage):
    intent = charged_intent(order.id)
    dead_attempt(order, intent.id)
    stripe_outage.start()

    assert payments_reconcile()["settled"] == 0

    payment = Payment.objects.get()
    assert (payment.status, payment.lease_until) == (Payment.Status.PENDING, None)
    stripe_outage.end()
    assert payments_reconcile()["settled"] == 1
