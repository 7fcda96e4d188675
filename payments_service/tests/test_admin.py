"""Operators: payments and orders in the admin, and a refund action that goes through Stripe."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from payments.models import Payment
from tests.conftest import pay, refunds_for
from tests.factories import OrderFactory
from ticketing_shared.testing.helpers import sign_in_operator

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client():
    user = get_user_model().objects.create_superuser(username="operator", email="operator@example.com", password=None)
    client = Client()
    sign_in_operator(client, user)
    return client


def test_the_admin_lists_payments_with_their_stripe_ids_and_orders(operator_client, buyer, order):
    pay(buyer, order.id)
    payment = Payment.objects.get()

    payments = operator_client.get("/admin/payments/payment/")
    detail = operator_client.get(f"/admin/payments/payment/{payment.pk}/change/")
    orders = operator_client.get("/admin/payments/order/")

    assert payments.status_code == detail.status_code == orders.status_code == 200
    assert payment.stripe_id in payments.content.decode()
    assert str(order.id) in orders.content.decode()


def test_the_refund_action_refunds_through_stripe_and_publishes(operator_client, buyer, order, outbox):
    pay(buyer, order.id)
    payment = Payment.objects.get()

    response = operator_client.post("/admin/payments/payment/", {"action": "refund", "_selected_action": [payment.pk]})

    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert [refund.id for refund in refunds_for(payment.stripe_id)] == [payment.refund_id]
    assert [event["data"]["id"] for event in outbox("payment.refunded")] == [str(payment.id)]


def test_refunding_twice_refunds_once(operator_client, buyer, order, outbox):
    pay(buyer, order.id)
    payment = Payment.objects.get()

    for _ in range(2):
        operator_client.post("/admin/payments/payment/", {"action": "refund", "_selected_action": [payment.pk]})

    assert len(refunds_for(payment.stripe_id)) == 1
    assert len(outbox("payment.refunded")) == 1


def test_an_attempt_in_flight_cannot_be_refunded(operator_client, outbox):
    from tests.factories import PaymentFactory

    payment = PaymentFactory(order=OrderFactory())

    response = operator_client.post(
        "/admin/payments/payment/", {"action": "refund", "_selected_action": [payment.pk]}, follow=True
    )

    assert "not refunded" in response.content.decode()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert outbox() == []
