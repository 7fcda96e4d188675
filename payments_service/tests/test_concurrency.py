"""Buyers who double-click: parallel requests on real PostgreSQL at READ COMMITTED."""


import pytest

from payments.models import Payment
from tests.conftest import intents_for, pay
from tests.factories import OrderFactory
from ticketing_shared.events.models import OutboxEvent
from ticketing_shared.testing.helpers import run_concurrently


@pytest.mark.django_db(transaction=True)
def test_parallel_payments_for_one_order_charge_once(authed_client):
    order = OrderFactory()
    clients = [authed_client(user_id=str(order.user_id)) for _ in range(4)]

    statuses = run_concurrently(lambda client: pay(client, order.id).status_code, clients)

    assert sorted(statuses) == [201, 400, 400, 400]
    assert Payment.objects.filter(status=Payment.Status.SUCCEEDED).count() == 1
    assert [intent.status for intent in intents_for(order.id)] == ["succeeded"]
    assert OutboxEvent.objects.filter(type="payment.created").count() == 1
