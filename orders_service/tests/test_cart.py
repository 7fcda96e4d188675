"""Orders of several tickets (the cart): all or none, adding and removing, totals, events."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders import services
from orders.models import Order, OrderItem
from tests.conftest import BUYER_ID, OTHER_ID
from tests.factories import OrderFactory, TicketFactory

pytestmark = pytest.mark.django_db


def reserve_set(client, ticket_ids, **extra):
    return client.post("/api/orders", {"ticket_ids": [str(t) for t in ticket_ids], **extra}, format="json")


def add(client, order_id, ticket_id):
    return client.post(f"/api/orders/{order_id}/tickets", {"ticket_id": str(ticket_id)}, format="json")


def remove(client, order_id, ticket_id):
    return client.delete(f"/api/orders/{order_id}/tickets/{ticket_id}")


def live_orders_of(ticket) -> list[str]:
    return [str(i.order_id) for i in OrderItem.objects.filter(ticket=ticket, live=True)]


def test_a_set_of_tickets_is_reserved_in_one_order_with_its_total(buyer, outbox):
    first, second = TicketFactory(price=Decimal("20.00")), TicketFactory(price=Decimal("35.50"))

    response = reserve_set(buyer, [first.id, second.id], expected_total="55.50")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["total"] == "55.50"
    assert body["ticket"] == {"id": str(first.id), "title": first.title, "price": "20.00"}
    assert body["tickets"] == [
        {"id": str(first.id), "title": first.title, "price": "20.00"},
        {"id": str(second.id), "title": second.title, "price": "35.50"},
    ]
    order = Order.objects.get()
    assert order.price == Decimal("55.50") and live_orders_of(first) == live_orders_of(second) == [str(order.id)]
    [event] = outbox("order.created")
    assert event["data"]["tickets"] == [{"id": str(first.id), "price": "20.00"},
                                        {"id": str(second.id), "price": "35.50"}]
    assert event["data"]["total"] == "55.50"
    assert event["data"]["ticket"] == {"id": str(first.id), "price": "20.00"}


def test_a_set_with_a_taken_or_unknown_ticket_reserves_nothing_and_names_them(buyer, other_buyer, outbox):
    free, taken = TicketFactory(), TicketFactory()
    held = OrderFactory(ticket=taken, user_id=OTHER_ID)
    unknown = uuid.uuid4()

    response = reserve_set(buyer, [free.id, taken.id, unknown])

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "ticket_ids"
    assert str(taken.id) in error["message"] and str(unknown) in error["message"]
    assert str(free.id) not in error["message"]
    assert Order.objects.filter(user_id=BUYER_ID).count() == 0
    assert live_orders_of(free) == [] and live_orders_of(taken) == [str(held.id)]
    assert outbox() == []


@pytest.mark.parametrize(
    ("ticket_ids", "message"),
    [
        ([], "ticket_ids"),
        (["not-a-uuid"], "ticket_ids"),
        ([str(uuid.uuid4())] * 2, "ticket_ids"),
        ([str(uuid.uuid4()) for _ in range(11)], "ticket_ids"),
    ],
)
def test_bad_sets_are_refused(buyer, ticket_ids, message):
    response = buyer.post("/api/orders", {"ticket_ids": ticket_ids}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == message
    assert not Order.objects.exists()


def test_items_that_are_not_ids_are_named_in_one_error_of_the_field(buyer):
    response = buyer.post("/api/orders", {"ticket_ids": [str(uuid.uuid4()), "zz", 7]}, format="json")

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Not ticket ids (UUID strings): zz, 7", "field": "ticket_ids"}]}

    response = buyer.post("/api/orders", {"ticket_ids": [None, {"a": 1}, "x" * 100, *["z"] * 10]}, format="json")
    message = response.json()["errors"][0]["message"]
    assert message == f'Not ticket ids (UUID strings): null, {{"a": 1}}, {"x" * 39}…, {", ".join(["z"] * 7)} and 3 more'


def test_one_ticket_and_a_set_together_are_refused(buyer):
    ticket = TicketFactory()
    response = buyer.post("/api/orders", {"ticket_id": str(ticket.id), "ticket_ids": [str(ticket.id)]},
                          format="json")
    assert response.status_code == 400 and not Order.objects.exists()


def test_the_expected_total_of_a_set_must_match(buyer):
    first, second = TicketFactory(price=Decimal("10.00")), TicketFactory(price=Decimal("15.00"))

    response = reserve_set(buyer, [first.id, second.id], expected_total="20.00")

    assert response.status_code == 409
    assert response.json()["errors"] == [{"message": "The price changed", "field": "expected_total"}]
    assert not Order.objects.exists()


def test_a_set_takes_tickets_from_expired_orders(buyer, outbox):
    first, second = TicketFactory(), TicketFactory()
    expired = OrderFactory(ticket=first, items=[first, second], price=Decimal("40.00"),
                           expires_at=timezone.now() - timedelta(seconds=1))

    response = reserve_set(buyer, [second.id, first.id])

    assert response.status_code == 201
    expired.refresh_from_db()
    assert (expired.status, expired.cancel_reason) == ("cancelled", "expired")
    assert [e["type"] for e in outbox()] == ["order.cancelled", "order.created"]
    cancelled = outbox("order.cancelled")[0]["data"]
    assert cancelled["tickets"] == [{"id": str(first.id)}, {"id": str(second.id)}]


def test_adding_a_ticket_reserves_it_into_the_order_until_its_expiry(buyer, outbox):
    first, second = TicketFactory(price=Decimal("20.00")), TicketFactory(price=Decimal("30.00"))
    order_id = reserve_set(buyer, [first.id]).json()["id"]

    response = add(buyer, order_id, second.id)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["total"] == "50.00" and body["version"] == 1
    assert [t["id"] for t in body["tickets"]] == [str(first.id), str(second.id)]
    order = Order.objects.get(pk=order_id)
    assert live_orders_of(second) == [order_id]
    [updated] = outbox("order.updated")
    assert updated["aggregateid"] == order_id
    assert updated["data"]["tickets"] == [{"id": str(first.id), "price": "20.00"},
                                          {"id": str(second.id), "price": "30.00"}]
    assert (updated["data"]["total"], updated["data"]["version"]) == ("50.00", 1)
    assert updated["data"]["expires_at"] == order.expires_at.isoformat().replace("+00:00", "Z")


def test_adding_a_taken_ticket_or_to_a_closed_order_is_refused(buyer, other_buyer):
    first, taken = TicketFactory(), TicketFactory()
    OrderFactory(ticket=taken, user_id=OTHER_ID)
    order_id = reserve_set(buyer, [first.id]).json()["id"]

    assert add(buyer, order_id, taken.id).status_code == 400
    assert add(buyer, order_id, first.id).status_code == 400  # already in it
    assert add(buyer, order_id, uuid.uuid4()).status_code == 404
    assert add(other_buyer, order_id, TicketFactory().id).status_code == 403
    assert add(buyer, uuid.uuid4(), TicketFactory().id).status_code == 404
    Order.objects.filter(pk=order_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = add(buyer, order_id, TicketFactory().id)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == services.ORDER_NOT_OPEN
    assert Order.objects.get(pk=order_id).items.count() == 1


def test_removing_a_ticket_frees_it_and_lowers_the_total(buyer, outbox):
    first, second = TicketFactory(price=Decimal("20.00")), TicketFactory(price=Decimal("30.00"))
    order_id = reserve_set(buyer, [first.id, second.id]).json()["id"]

    response = remove(buyer, order_id, first.id)

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["total"]) == ("created", "30.00")
    assert body["ticket"]["id"] == str(second.id) and [t["id"] for t in body["tickets"]] == [str(second.id)]
    assert live_orders_of(first) == [] and live_orders_of(second) == [order_id]
    [updated] = outbox("order.updated")
    assert updated["data"]["tickets"] == [{"id": str(second.id), "price": "30.00"}]
    # and someone else may now reserve it
    assert reserve_set(buyer, [first.id]).status_code == 201


def test_removing_the_last_ticket_cancels_the_order(buyer, outbox):
    ticket = TicketFactory()
    order_id = reserve_set(buyer, [ticket.id]).json()["id"]

    response = remove(buyer, order_id, ticket.id)

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["cancel_reason"]) == ("cancelled", "by_buyer")
    assert live_orders_of(ticket) == []
    assert [e["type"] for e in outbox()] == ["order.created", "order.cancelled"]


def test_removing_refusals(buyer, other_buyer):
    first, second = TicketFactory(), TicketFactory()
    order_id = reserve_set(buyer, [first.id, second.id]).json()["id"]

    assert remove(buyer, order_id, uuid.uuid4()).status_code == 404
    assert remove(other_buyer, order_id, first.id).status_code == 403
    Order.objects.filter(pk=order_id).update(status=Order.Status.COMPLETE)
    assert remove(buyer, order_id, first.id).status_code == 400
    assert Order.objects.get(pk=order_id).items.count() == 2


def test_cancelling_frees_every_ticket_and_completing_needs_the_total(buyer, outbox):
    first, second = TicketFactory(price=Decimal("20.00")), TicketFactory(price=Decimal("30.00"))
    order_id = reserve_set(buyer, [first.id, second.id]).json()["id"]

    with pytest.raises(services.PaymentMismatch):
        services.order_complete(order_id=order_id, amount=Decimal("20.00"))
    assert services.order_complete(order_id=order_id, amount=Decimal("50.00"))
    completed = outbox("order.completed")[0]["data"]
    assert completed["tickets"] == [{"id": str(first.id)}, {"id": str(second.id)}]
    assert completed["user_id"] == BUYER_ID

    other = reserve_set(buyer, [TicketFactory().id, TicketFactory().id]).json()
    assert buyer.delete(f"/api/orders/{other['id']}").status_code == 204
    assert OrderItem.objects.filter(order_id=other["id"], live=True).count() == 0
    assert OrderItem.objects.filter(order_id=order_id, live=True).count() == 2


def test_a_new_price_of_one_ticket_cancels_the_cart_holding_it(buyer, outbox):
    first, second = TicketFactory(price=Decimal("20.00")), TicketFactory(price=Decimal("30.00"))
    order_id = reserve_set(buyer, [first.id, second.id]).json()["id"]

    services.ticket_replica_update(ticket_id=second.id, title=second.title, price=Decimal("31.00"), version=1)

    order = Order.objects.get(pk=order_id)
    assert (order.status, order.cancel_reason) == ("cancelled", "price_changed")
    assert live_orders_of(first) == live_orders_of(second) == []


def test_unlisting_one_ticket_cancels_the_cart_holding_it_and_the_ticket_cannot_be_reserved(buyer, outbox):
    first, second = TicketFactory(price=Decimal("20.00")), TicketFactory(price=Decimal("30.00"))
    order_id = reserve_set(buyer, [first.id, second.id]).json()["id"]

    services.ticket_replica_update(ticket_id=second.id, title=second.title, price=second.price, version=1,
                                   unlisted=True)

    order = Order.objects.get(pk=order_id)
    assert (order.status, order.cancel_reason) == ("cancelled", "price_changed")
    assert outbox("order.cancelled")[0]["data"]["tickets"] == [{"id": str(first.id)}, {"id": str(second.id)}]
    assert live_orders_of(first) == live_orders_of(second) == []
    assert reserve_set(buyer, [first.id]).status_code == 201
    refused = reserve_set(buyer, [second.id])
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"] == f"Tickets cannot be reserved (not found: {second.id})"


def test_open_orders_limit_counts_carts_not_tickets(buyer, settings):
    settings.MAX_OPEN_ORDERS_PER_USER = 1
    response = reserve_set(buyer, [TicketFactory().id, TicketFactory().id])
    assert response.status_code == 201
    assert add(buyer, response.json()["id"], TicketFactory().id).status_code == 200
    refused = reserve_set(buyer, [TicketFactory().id])
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"] == services.TOO_MANY_OPEN_ORDERS
