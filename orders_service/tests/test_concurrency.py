"""The one-live-order-per-ticket rule under real concurrency, on real PostgreSQL."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from orders import services
from orders.models import Order
from tests.conftest import BUYER_ID, reserve
from tests.factories import OrderFactory, TicketFactory
from ticketing_shared.testing.helpers import run_concurrently
from ticketing_shared.versioning import ConcurrentUpdateError

BUYERS = 50


def race(make_token, ticket_id, buyers: int) -> list[tuple[int, dict]]:
    """``buyers`` clients, each on its own thread and database connection, released at once."""
    clients = []
    for _ in range(buyers):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user_id=str(uuid.uuid4()))}")
        clients.append(client)

    def buy(client: APIClient) -> tuple[int, dict]:
        response = reserve(client, ticket_id)
        return response.status_code, response.json()

    return run_concurrently(buy, clients)


@pytest.mark.django_db(transaction=True)
def test_fifty_buyers_racing_for_one_ticket_get_exactly_one_order(make_token, outbox):
    ticket = TicketFactory()

    results = race(make_token, ticket.id, BUYERS)

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [400] * (BUYERS - 1)
    refusals = [body for status, body in results if status == 400]
    assert all(body == {"errors": [{"message": "Ticket is already reserved"}]} for body in refusals)
    [winner] = [body for status, body in results if status == 201]
    live = Order.objects.filter(ticket=ticket, status__in=Order.LIVE)
    assert [str(order.id) for order in live] == [winner["id"]]
    assert Order.objects.count() == 1
    assert [event["aggregateid"] for event in outbox("order.created")] == [winner["id"]]


@pytest.mark.django_db(transaction=True)
def test_buyers_racing_for_a_ticket_whose_order_expired_replace_it_once(make_token, outbox):
    ticket = TicketFactory()
    expired = OrderFactory(ticket=ticket, expires_at=timezone.now() - timedelta(seconds=1))

    results = race(make_token, ticket.id, 20)

    assert sorted(status for status, _ in results) == [201] + [400] * 19
    expired.refresh_from_db()
    assert (expired.status, expired.version) == ("cancelled", 1)
    assert Order.objects.filter(ticket=ticket, status__in=Order.LIVE).count() == 1
    assert [event["type"] for event in outbox()] == ["order.cancelled", "order.created"]


@pytest.mark.django_db
def test_the_database_refuses_a_second_live_order_for_a_ticket():
    ticket = TicketFactory()
    OrderFactory(ticket=ticket, status=Order.Status.CANCELLED)
    OrderFactory(ticket=ticket, status=Order.Status.CANCELLED)
    OrderFactory(ticket=ticket, status=Order.Status.CREATED)

    for status in Order.LIVE:
        with pytest.raises(IntegrityError), transaction.atomic():
            OrderFactory(ticket=ticket, status=status)


@pytest.mark.django_db
def test_the_constraint_has_the_last_word_when_the_lock_is_bypassed(buyer, outbox, monkeypatch):
    """Were the locked look-up to miss the holder, the partial unique index still refuses,
    and the buyer gets the same 400, not a 500."""
    ticket = TicketFactory()
    OrderFactory(ticket=ticket, status=Order.Status.CREATED)
    monkeypatch.setattr(Order, "LIVE", (Order.Status.COMPLETE,))

    response = reserve(buyer, ticket.id)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Ticket is already reserved"}]}
    assert Order.objects.count() == 1 and outbox() == []


@pytest.mark.django_db
def test_a_stale_write_of_an_order_is_refused():
    """Every change is written over the version it was read at: a writer holding an old
    copy cannot overwrite what happened meanwhile."""
    order = OrderFactory(user_id=BUYER_ID)
    first, stale = Order.objects.get(pk=order.pk), Order.objects.get(pk=order.pk)
    first.change_status(Order.Status.COMPLETE)

    with pytest.raises(ConcurrentUpdateError):
        stale.change_status(Order.Status.CANCELLED)

    order.refresh_from_db()
    assert (order.status, order.version) == ("complete", 1)


@pytest.mark.django_db(transaction=True)
def test_a_reservation_racing_a_price_edit_never_leaves_an_unpaid_order_at_the_old_price(outbox):
    """Whichever takes the ticket's row lock first, the order ends at the seller's new price or cancelled."""
    rounds = 10
    tickets = [TicketFactory(price=Decimal("10.00"), version=0) for _ in range(rounds)]

    def step(call):
        return call()

    for ticket in tickets:
        run_concurrently(step, [
            lambda ticket=ticket: services.order_create(user_id=uuid.uuid4(), ticket_id=ticket.id),
            lambda ticket=ticket: services.ticket_replica_update(
                ticket_id=ticket.id, title=ticket.title, price=Decimal("40.00"), version=1
            ),
        ])

    orders = list(Order.objects.all())
    assert len(orders) == rounds
    for order in orders:
        if order.price == Decimal("10.00"):
            assert (order.status, order.cancel_reason) == ("cancelled", "price_changed")
        else:
            assert (order.price, order.status, order.cancel_reason) == (Decimal("40.00"), "created", "")
    cancelled = {event["aggregateid"] for event in outbox("order.cancelled")}
    assert cancelled == {str(order.id) for order in orders if order.status == "cancelled"}


PAIRS_RUNS = 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", range(PAIRS_RUNS))
@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "idempotency-key"])
def test_twenty_buyers_racing_for_overlapping_pairs_hold_each_ticket_once(make_token, run, with_key):
    """Buyer i wants tickets i and i+1 (of 10, in a ring; half of them in reverse order):
    every pair overlaps two others. All or none per buyer, no ticket in two live orders,
    and no deadlock or serialization error ever reaches a client, also when the
    reservation runs inside the transaction that keeps its ``Idempotency-Key`` answer."""
    from orders.models import OrderItem

    tickets = [TicketFactory() for _ in range(10)]
    wanted = []
    for i in range(20):
        pair = [tickets[i % 10].id, tickets[(i + 1) % 10].id]
        wanted.append(pair if i % 2 else pair[::-1])
    clients = []
    for pair in wanted:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user_id=str(uuid.uuid4()))}")
        clients.append((client, pair))

    def buy(argument) -> tuple[int, dict]:
        client, pair = argument
        headers = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())} if with_key else {}
        response = client.post("/api/orders", {"ticket_ids": [str(t) for t in pair]}, format="json", **headers)
        return response.status_code, response.json()

    results = run_concurrently(buy, clients)

    assert {status for status, _ in results} <= {201, 400}, results
    assert any(status == 201 for status, _ in results)
    for status, body in results:
        if status == 400:
            assert body["errors"][0]["field"] == "ticket_ids", body
    live = OrderItem.objects.filter(live=True)
    held = [item.ticket_id for item in live]
    assert len(held) == len(set(held)), "a ticket is held by two live orders"
    winners = [body["id"] for status, body in results if status == 201]
    for order_id in winners:
        assert OrderItem.objects.filter(order_id=order_id, live=True).count() == 2
    assert Order.objects.count() == len(winners)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("holder_status", ["created", "complete"])
def test_a_ticket_someone_holds_is_refused_at_once_not_after_the_locks_on_it(buyer, outbox, holder_status):
    """A flash sale's losers are told at once: while another transaction holds the ticket's
    row lock (here for 3 s), a reservation of a ticket that a live order holds answers 400
    without waiting for it, in four statements (no lock taken, nothing written)."""
    import threading
    import time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ticket = TicketFactory()
    OrderFactory(ticket=ticket, status=holder_status)
    locked, release = threading.Event(), threading.Event()

    def hold_the_row_lock() -> None:
        try:
            with transaction.atomic():
                list(services.Ticket.objects.select_for_update().filter(pk=ticket.id))
                locked.set()
                release.wait(3)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row_lock)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        with CaptureQueriesContext(connection) as statements:
            response = reserve(buyer, ticket.id)
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join()

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Ticket is already reserved"}]}
    assert waited < 2, f"the refusal waited {waited:.1f} s for the row lock"
    sql = [query["sql"] for query in statements.captured_queries]
    assert not [s for s in sql if "FOR UPDATE" in s or "advisory" in s or s.startswith(("INSERT", "UPDATE"))], sql
    assert len(sql) <= 4, "\n".join(sql)
    assert Order.objects.count() == 1 and outbox() == []


@pytest.mark.django_db(transaction=True)
def test_a_set_with_a_held_ticket_is_refused_at_once_naming_each_ticket(buyer, outbox):
    held, unknown, free = TicketFactory(), uuid.uuid4(), TicketFactory()
    OrderFactory(ticket=held)

    response = buyer.post("/api/orders", {"ticket_ids": [str(free.id), str(held.id), str(unknown)]}, format="json")

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "ticket_ids"
    assert f"already reserved: {held.id}" in error["message"] and f"not found: {unknown}" in error["message"]
    assert str(free.id) not in error["message"]
    assert Order.objects.count() == 1 and outbox() == []
