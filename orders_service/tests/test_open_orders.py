"""``MAX_OPEN_ORDERS_PER_USER``: one buyer holds at most that many unpaid orders, however they race."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from orders.models import Order
from tests.conftest import BUYER_ID, OTHER_ID, reserve
from tests.factories import OrderFactory, TicketFactory
from ticketing_shared.testing.helpers import run_concurrently

TOO_MANY = {"errors": [{"message": "Too many open orders"}]}


@pytest.mark.django_db
def test_the_default_is_three_open_orders(settings):
    assert settings.MAX_OPEN_ORDERS_PER_USER == 3


@pytest.mark.django_db
def test_one_more_than_the_limit_is_400_and_makes_nothing(buyer, outbox, settings):
    settings.MAX_OPEN_ORDERS_PER_USER = 3
    for _ in range(3):
        assert reserve(buyer, TicketFactory().id).status_code == 201
    fourth = TicketFactory()

    response = reserve(buyer, fourth.id)

    assert response.status_code == 400
    assert response.json() == TOO_MANY
    assert Order.objects.filter(user_id=BUYER_ID).count() == 3
    assert not Order.objects.filter(ticket=fourth).exists()
    assert len(outbox("order.created")) == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status", [Order.Status.COMPLETE, Order.Status.CANCELLED]
)
def test_paid_and_cancelled_orders_do_not_count(buyer, settings, status):
    settings.MAX_OPEN_ORDERS_PER_USER = 1
    OrderFactory(user_id=BUYER_ID, status=status)

    assert reserve(buyer, TicketFactory().id).status_code == 201


@pytest.mark.django_db
def test_an_order_past_its_window_does_not_count_even_before_it_is_cancelled(buyer, settings):
    settings.MAX_OPEN_ORDERS_PER_USER = 1
    OrderFactory(user_id=BUYER_ID, expires_at=timezone.now() - timedelta(seconds=1))

    assert reserve(buyer, TicketFactory().id).status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Order.Status.CREATED, Order.Status.AWAITING_PAYMENT])
def test_unpaid_orders_in_their_window_count(buyer, settings, status):
    settings.MAX_OPEN_ORDERS_PER_USER = 1
    OrderFactory(user_id=BUYER_ID, status=status)

    assert reserve(buyer, TicketFactory().id).json() == TOO_MANY


@pytest.mark.django_db
def test_other_buyers_orders_do_not_count(buyer, settings):
    settings.MAX_OPEN_ORDERS_PER_USER = 1
    OrderFactory(user_id=OTHER_ID)

    assert reserve(buyer, TicketFactory().id).status_code == 201


@pytest.mark.django_db
def test_paying_or_cancelling_makes_room_again(buyer, settings):
    settings.MAX_OPEN_ORDERS_PER_USER = 1
    first = reserve(buyer, TicketFactory().id).json()
    assert reserve(buyer, TicketFactory().id).json() == TOO_MANY

    assert buyer.delete(f"/api/orders/{first['id']}").status_code == 204

    assert reserve(buyer, TicketFactory().id).status_code == 201


@pytest.mark.django_db
def test_a_refusal_leaves_an_expired_holder_of_the_ticket_as_it_was(buyer, outbox, settings):
    """Nothing is made means nothing: not even the cancel of the expired order the reservation would replace."""
    settings.MAX_OPEN_ORDERS_PER_USER = 1
    OrderFactory(user_id=BUYER_ID)
    ticket = TicketFactory()
    expired = OrderFactory(ticket=ticket, user_id=OTHER_ID, expires_at=timezone.now() - timedelta(seconds=1))

    assert reserve(buyer, ticket.id).json() == TOO_MANY

    expired.refresh_from_db()
    assert (expired.status, expired.version) == ("created", 0)
    assert outbox() == []


@pytest.mark.django_db(transaction=True)
def test_one_buyer_racing_for_many_tickets_gets_exactly_the_limit(make_token, outbox, settings):
    """Ten reservations of ten tickets by one buyer at the same instant: each would count two
    open orders and pass, were the buyer's reservations not queued on a lock of their own."""
    settings.MAX_OPEN_ORDERS_PER_USER = 3
    token = make_token(user_id=BUYER_ID)
    tickets = [TicketFactory() for _ in range(10)]

    def buy(ticket) -> tuple[int, dict]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = reserve(client, ticket.id)
        return response.status_code, response.json()

    results = run_concurrently(buy, tickets)

    assert sorted(status for status, _ in results) == [201] * 3 + [400] * 7
    assert all(body == TOO_MANY for status, body in results if status == 400)
    assert Order.objects.filter(user_id=BUYER_ID).count() == 3
    assert len(outbox("order.created")) == 3


@pytest.mark.django_db(transaction=True)
def test_different_buyers_do_not_wait_for_each_others_limit(make_token, settings):
    settings.MAX_OPEN_ORDERS_PER_USER = 1
    tickets = [TicketFactory() for _ in range(6)]

    def buy(ticket) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user_id=str(uuid.uuid4()))}")
        return reserve(client, ticket.id).status_code

    assert run_concurrently(buy, tickets) == [201] * 6
