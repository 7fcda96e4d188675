"""Buyers who double-click: parallel requests on real PostgreSQL at READ COMMITTED."""

import threading

import pytest
from django.db import connection

from payments.models import Payment
from tests.conftest import intents_for, pay
from tests.factories import OrderFactory
from ticketing_shared.events.models import OutboxEvent


@pytest.mark.django_db(transaction=True)
def test_parallel_payments_for_one_order_charge_once(authed_client):
    order = OrderFactory()
    clients = [authed_client(user_id=str(order.user_id)) for _ in range(4)]
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def attempt(client) -> None:
        start.wait()
        try:
            statuses.append(pay(client, order.id).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(statuses) == [201, 400, 400, 400]
    assert Payment.objects.filter(status=Payment.Status.SUCCEEDED).count() == 1
    assert [intent.status for intent in intents_for(order.id)] == ["succeeded"]
    assert OutboxEvent.objects.filter(type="payment.created").count() == 1
