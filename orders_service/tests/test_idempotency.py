"""``POST /api/orders`` with an ``Idempotency-Key``: a retry never makes a second order."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from orders.models import Order
from tests.conftest import BUYER_ID
from tests.factories import OrderFactory, TicketFactory
from ticketing_shared.idempotency.models import IdempotencyKey
from ticketing_shared.testing.helpers import run_concurrently


def reserve_once(client, ticket_id, key="order-key-1", **body):
    return client.post("/api/orders", {"ticket_id": str(ticket_id), **body}, format="json",
                       HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_a_retry_returns_the_first_order_and_makes_no_other(buyer, ticket, outbox):
    first = reserve_once(buyer, ticket.id)
    again = reserve_once(buyer, ticket.id)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert [str(order.id) for order in Order.objects.all()] == [first.json()["id"]]
    assert len(outbox("order.created")) == 1


@pytest.mark.django_db
def test_the_order_and_its_kept_answer_are_one_transaction(buyer, ticket, outbox, monkeypatch):
    """Were the order.created event not written, neither the order nor the answer is: the retry makes it."""
    from orders import services

    def publish_failing(event, **options):
        raise RuntimeError("outbox unavailable")

    real_publish = services.publish
    monkeypatch.setattr(services, "publish", publish_failing)
    assert reserve_once(buyer, ticket.id).status_code == 500
    assert not Order.objects.exists() and not IdempotencyKey.objects.exists()

    monkeypatch.setattr(services, "publish", real_publish)
    assert reserve_once(buyer, ticket.id).status_code == 201
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_the_same_key_for_another_ticket_is_422(buyer, ticket, outbox):
    reserve_once(buyer, ticket.id)

    response = reserve_once(buyer, TicketFactory().id)

    assert response.status_code == 422
    assert response.json() == {"errors": [{"message": "This Idempotency-Key was already used for a different request"}]}
    assert Order.objects.count() == 1 and len(outbox("order.created")) == 1


@pytest.mark.django_db
def test_the_same_key_with_another_expected_total_is_422(buyer, ticket):
    reserve_once(buyer, ticket.id, expected_total="20.00")

    assert reserve_once(buyer, ticket.id, expected_total="25.00").status_code == 422


@pytest.mark.django_db
def test_keys_are_per_buyer(buyer, other_buyer, ticket):
    mine = reserve_once(buyer, ticket.id)
    theirs = reserve_once(other_buyer, TicketFactory().id)

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert Order.objects.count() == 2


@pytest.mark.django_db
def test_a_refused_reservation_is_not_kept(buyer, ticket):
    """The ticket was held: nothing was made, so the same request may try again once it is free."""
    holder = OrderFactory(ticket=ticket)
    assert reserve_once(buyer, ticket.id).status_code == 400
    holder.cancel(Order.CancelReason.BY_BUYER)

    response = reserve_once(buyer, ticket.id)

    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Order.objects.filter(user_id=BUYER_ID).count() == 1


@pytest.mark.django_db
def test_a_bad_key_is_400_and_reserves_nothing(buyer, ticket):
    response = reserve_once(buyer, ticket.id, key="x" * 256)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Idempotency-Key must be 1 to 255 visible ASCII characters"}]}
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_make_one_order(make_token, outbox):
    ticket = TicketFactory()
    token = make_token(user_id=BUYER_ID)
    key = str(uuid.uuid4())

    def send(_) -> tuple[int, dict]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = reserve_once(client, ticket.id, key=key)
        return response.status_code, response.json()

    results = run_concurrently(send, range(10))

    assert {status for status, _ in results} <= {201, 409}, results
    made = {body["id"] for status, body in results if status == 201}
    assert made == {str(order.id) for order in Order.objects.all()}
    assert len(made) == 1
    assert len(outbox("order.created")) == 1


@pytest.mark.django_db(transaction=True)
def test_a_reservation_with_a_key_is_thirteen_statements_in_two_transactions(buyer, ticket, outbox):
    """Round trips are most of a reservation's time on a busy machine: the key's claim, then
    one transaction (the lock-free "is it held?" read, locks, checks, inserts, event, buyer's
    address, kept answer) with no savepoint and nothing read back for the answer or the
    event. (It was 22 statements, with three savepoints.)"""
    with CaptureQueriesContext(connection) as statements:
        response = reserve_once(buyer, ticket.id)

    assert response.status_code == 201
    sql = [query["sql"] for query in statements.captured_queries]
    assert not [s for s in sql if s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))], sql
    assert sum(s == "COMMIT" for s in sql) == 1  # and the claim's autocommit insert before it
    assert len(sql) <= 13, "\n".join(sql)
    assert response.json()["tickets"] == [{"id": str(ticket.id), "title": ticket.title, "price": "20.00"}]
    [event] = outbox("order.created")
    assert event["data"]["tickets"] == [{"id": str(ticket.id), "price": "20.00"}]
