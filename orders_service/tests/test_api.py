"""The orders API, every row of its table in docs/api.md: success and each failure."""

import uuid
from datetime import datetime, timedelta

import pytest
from django.urls import resolve, reverse
from django.utils import timezone

from orders import views
from orders.models import Order
from tests.conftest import BUYER_ID, OTHER_ID, reserve
from tests.factories import OrderFactory, TicketFactory

pytestmark = pytest.mark.django_db


def order_json(order: Order) -> dict:
    order.refresh_from_db()
    return {
        "id": str(order.id),
        "status": order.status,
        "cancel_reason": order.cancel_reason or None,
        "expires_at": order.expires_at.isoformat().replace("+00:00", "Z"),
        "user_id": str(order.user_id),
        "version": order.version,
        "ticket": {"id": str(order.ticket_id), "title": order.ticket.title, "price": f"{order.price:.2f}"},
        "tickets": [{"id": str(order.ticket_id), "title": order.ticket.title, "price": f"{order.price:.2f}"}],
        "total": f"{order.price:.2f}",
    }


# -- POST /api/orders ---------------------------------------------------------------


def test_reserving_a_free_ticket_creates_an_order_for_the_window(buyer, ticket, outbox, settings):
    settings.ORDER_EXPIRATION_SECONDS = 600
    before = timezone.now()

    response = reserve(buyer, ticket.id)

    assert response.status_code == 201, response.json()
    body = response.json()
    order = Order.objects.get()
    assert body == order_json(order)
    assert (body["status"], body["cancel_reason"], body["user_id"], body["version"]) == ("created", None, BUYER_ID, 0)
    assert body["ticket"] == {"id": str(ticket.id), "title": "Concert", "price": "20.00"}
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(seconds=600) <= expires_at <= timezone.now() + timedelta(seconds=600)
    assert outbox() == [
        {
            "type": "order.created",
            "aggregateid": str(order.id),
            "data": {
                "id": str(order.id),
                "status": "created",
                "user_id": BUYER_ID,
                "expires_at": order.expires_at.isoformat().replace("+00:00", "Z"),
                "version": 0,
                "ticket": {"id": str(ticket.id), "price": "20.00"},
                "tickets": [{"id": str(ticket.id), "price": "20.00"}],
                "total": "20.00",
            },
        }
    ]


def test_reserving_needs_a_token(api_client, ticket, outbox):
    response = reserve(api_client, ticket.id)

    assert response.status_code == 401
    assert response.json()["errors"][0]["message"]
    assert not Order.objects.exists() and outbox() == []


@pytest.mark.parametrize(
    "body", [{}, {"ticket_id": None}, {"ticket_id": "not-a-uuid"}, {"ticket_id": 42}, {"ticket_id": ""}]
)
def test_a_missing_or_malformed_ticket_id_is_refused(buyer, ticket, outbox, body):
    response = buyer.post("/api/orders", body, format="json")

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "ticket_id"
    assert not Order.objects.exists() and outbox() == []


def test_a_body_that_is_not_json_is_refused(buyer, outbox):
    response = buyer.post("/api/orders", "ticket_id=x", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["message"]
    assert outbox() == []


def test_reserving_a_ticket_the_replica_does_not_know_is_404(buyer, outbox):
    response = reserve(buyer, uuid.uuid4())

    assert response.status_code == 404
    assert response.json() == {"errors": [{"message": "Ticket not found"}]}
    assert outbox() == []


@pytest.mark.parametrize("status", [Order.Status.CREATED, Order.Status.AWAITING_PAYMENT, Order.Status.COMPLETE])
def test_reserving_a_held_ticket_is_refused(buyer, ticket, outbox, status):
    holder = OrderFactory(ticket=ticket, user_id=OTHER_ID, status=status)

    response = reserve(buyer, ticket.id)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Ticket is already reserved"}]}
    assert list(Order.objects.all()) == [holder]
    holder.refresh_from_db()
    assert (holder.status, holder.version) == (status, 0)
    assert outbox() == []


def test_reserving_a_ticket_one_already_holds_is_refused_too(buyer, ticket):
    assert reserve(buyer, ticket.id).status_code == 201

    response = reserve(buyer, ticket.id)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Ticket is already reserved"}]}


def test_a_sold_ticket_stays_sold_after_the_window(buyer, ticket, outbox):
    OrderFactory(ticket=ticket, status=Order.Status.COMPLETE, expires_at=timezone.now() - timedelta(hours=1))

    response = reserve(buyer, ticket.id)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Ticket is already reserved"}]}
    assert outbox() == []


def test_a_ticket_whose_order_was_cancelled_can_be_reserved_again(buyer, ticket):
    OrderFactory(ticket=ticket, status=Order.Status.CANCELLED)

    response = reserve(buyer, ticket.id)

    assert response.status_code == 201
    assert Order.objects.filter(ticket=ticket, status="created").get().user_id == uuid.UUID(BUYER_ID)


def test_a_seller_can_reserve_their_own_ticket(buyer, outbox):
    """No rule forbids buying one's own ticket: one user may list a ticket and reserve it."""
    own = TicketFactory(user_id=BUYER_ID)

    response = reserve(buyer, own.id)

    assert response.status_code == 201, response.json()
    order = Order.objects.get()
    assert (order.ticket_id, str(order.user_id), order.status) == (own.id, BUYER_ID, "created")
    assert response.json() == order_json(order)
    assert [(event["type"], event["aggregateid"]) for event in outbox()] == [("order.created", str(order.id))]


@pytest.mark.parametrize("status", [Order.Status.CREATED, Order.Status.AWAITING_PAYMENT])
def test_reserving_a_ticket_whose_order_expired_cancels_that_order_first(buyer, ticket, outbox, status):
    """The expiration event is late: the hold ended at ``expires_at`` all the same."""
    expired = OrderFactory(
        ticket=ticket, user_id=OTHER_ID, status=status, expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = reserve(buyer, ticket.id)

    assert response.status_code == 201, response.json()
    new_id = response.json()["id"]
    expired.refresh_from_db()
    assert (expired.status, expired.version) == ("cancelled", 1)
    assert [(event["type"], event["aggregateid"]) for event in outbox()] == [
        ("order.cancelled", str(expired.id)),
        ("order.created", new_id),
    ]
    assert outbox("order.cancelled")[0]["data"] == {
        "id": str(expired.id),
        "version": 1,
        "ticket": {"id": str(ticket.id)},
        "tickets": [{"id": str(ticket.id)}],
        "user_id": str(expired.user_id),
        "reason": "expired",
    }
    assert expired.cancel_reason == "expired"


def test_the_order_keeps_the_price_it_was_reserved_at(buyer, ticket):
    """What the buyer is shown is what order.created told the payments service to charge."""
    order_id = reserve(buyer, ticket.id).json()["id"]
    ticket.price = "35.00"
    ticket.title = "Concert (moved)"
    ticket.save()

    body = buyer.get(f"/api/orders/{order_id}").json()

    assert body["ticket"] == {"id": str(ticket.id), "title": "Concert (moved)", "price": "20.00"}


# -- POST /api/orders with expected_total ---------------------------------------------


def reserve_at(client, ticket_id, expected_total):
    return client.post("/api/orders", {"ticket_id": str(ticket_id), "expected_total": expected_total}, format="json")


@pytest.mark.parametrize("expected_total", ["20.00", "20", "20.0", 20, None])
def test_reserving_at_the_price_the_buyer_saw_creates_the_order(buyer, ticket, outbox, expected_total):
    """``null`` is the same as leaving it out: no check."""
    response = reserve_at(buyer, ticket.id, expected_total)

    assert response.status_code == 201, response.json()
    order = Order.objects.get()
    assert response.json() == order_json(order)
    assert response.json()["ticket"]["price"] == "20.00"
    assert [event["type"] for event in outbox()] == ["order.created"]


@pytest.mark.parametrize("expected_total", ["10.00", "20.01", "0.00", 19.99])
def test_reserving_at_another_price_is_409_and_makes_nothing(buyer, ticket, outbox, expected_total):
    response = reserve_at(buyer, ticket.id, expected_total)

    assert response.status_code == 409
    assert response.json() == {"errors": [{"message": "The price changed", "field": "expected_total"}]}
    assert not Order.objects.exists() and outbox() == []


def test_a_409_leaves_an_expired_holder_as_it_was(buyer, ticket, outbox):
    """"Create nothing" includes not ending the expired order the reservation would replace."""
    expired = OrderFactory(ticket=ticket, user_id=OTHER_ID, expires_at=timezone.now() - timedelta(seconds=1))

    response = reserve_at(buyer, ticket.id, "10.00")

    assert response.status_code == 409
    expired.refresh_from_db()
    assert (expired.status, expired.version, expired.cancel_reason) == ("created", 0, "")
    assert list(Order.objects.all()) == [expired] and outbox() == []


def test_a_held_ticket_is_refused_as_held_whatever_price_was_expected(buyer, ticket):
    """Being held is what stops the buyer; a new price would not help them."""
    OrderFactory(ticket=ticket, user_id=OTHER_ID)

    response = reserve_at(buyer, ticket.id, "10.00")

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Ticket is already reserved"}]}


def test_an_unknown_ticket_is_404_whatever_price_was_expected(buyer):
    response = reserve_at(buyer, uuid.uuid4(), "10.00")

    assert response.status_code == 404
    assert response.json() == {"errors": [{"message": "Ticket not found"}]}


@pytest.mark.parametrize(
    "expected_total",
    ["ten", "", "10.001", "-1.00", "123456789.00", "NaN", "Infinity", True, [], {}, {"amount": "10.00"}],
)
def test_an_expected_total_that_is_not_money_is_400(buyer, ticket, outbox, expected_total):
    response = reserve_at(buyer, ticket.id, expected_total)

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "expected_total" and error["message"]
    assert not Order.objects.exists() and outbox() == []


def test_the_price_compared_is_the_replicas_at_the_moment_of_reserving(buyer, ticket, deliver):
    """The seller's edit reached us: the price the buyer saw before it is refused, the new one is taken."""
    deliver("ticket.updated", {"id": str(ticket.id), "title": ticket.title, "price": "40.00",
                               "user_id": str(ticket.user_id), "version": 1})

    assert reserve_at(buyer, ticket.id, "20.00").status_code == 409
    response = reserve_at(buyer, ticket.id, "40.00")
    assert response.status_code == 201
    assert response.json()["ticket"]["price"] == "40.00"


# -- GET /api/orders ----------------------------------------------------------------


def test_listing_shows_the_callers_orders_newest_first(buyer):
    now = timezone.now()
    oldest = OrderFactory(user_id=BUYER_ID, status=Order.Status.CANCELLED, created_at=now - timedelta(hours=2))
    newest = OrderFactory(user_id=BUYER_ID, created_at=now)
    middle = OrderFactory(user_id=BUYER_ID, status=Order.Status.COMPLETE, created_at=now - timedelta(hours=1))
    OrderFactory(user_id=OTHER_ID)

    response = buyer.get("/api/orders")

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (3, None, None)
    assert body["results"] == [order_json(newest), order_json(middle), order_json(oldest)]


def test_listing_is_paginated_with_limit_and_offset(buyer):
    now = timezone.now()
    orders = [OrderFactory(user_id=BUYER_ID, created_at=now - timedelta(minutes=n)) for n in range(5)]

    body = buyer.get("/api/orders?limit=2&offset=2").json()

    assert body["count"] == 5
    assert [order["id"] for order in body["results"]] == [str(orders[2].id), str(orders[3].id)]
    assert body["next"].endswith("/api/orders?limit=2&offset=4")
    assert body["previous"].endswith("/api/orders?limit=2")


def test_listing_nothing_is_an_empty_page(buyer):
    assert buyer.get("/api/orders").json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_listing_needs_a_token(api_client):
    response = api_client.get("/api/orders")

    assert response.status_code == 401
    assert response.json()["errors"][0]["message"]


# -- GET /api/orders/{id} ----------------------------------------------------------


def test_a_buyer_sees_their_order(buyer):
    order = OrderFactory(user_id=BUYER_ID)

    response = buyer.get(f"/api/orders/{order.id}")

    assert response.status_code == 200
    assert response.json() == order_json(order)


def test_an_expired_order_is_reported_as_stored_until_cancelled(buyer):
    order = OrderFactory(user_id=BUYER_ID, expires_at=timezone.now() - timedelta(minutes=1))

    assert buyer.get(f"/api/orders/{order.id}").json()["status"] == "created"


def test_someone_elses_order_is_forbidden(other_buyer):
    order = OrderFactory(user_id=BUYER_ID)

    response = other_buyer.get(f"/api/orders/{order.id}")

    assert response.status_code == 403
    assert response.json() == {"errors": [{"message": "You do not have permission to perform this action."}]}


@pytest.mark.parametrize(
    ("order_id", "message"), [(uuid.uuid4(), "No Order matches the given query."), ("not-a-uuid", "Not Found")]
)
def test_an_unknown_order_is_404(buyer, order_id, message):
    response = buyer.get(f"/api/orders/{order_id}")

    assert response.status_code == 404
    assert response.json() == {"errors": [{"message": message}]}


def test_showing_an_order_needs_a_token(api_client):
    order = OrderFactory(user_id=BUYER_ID)

    assert api_client.get(f"/api/orders/{order.id}").status_code == 401


# -- DELETE /api/orders/{id} --------------------------------------------------------


def test_cancelling_an_order_frees_the_ticket_and_publishes(buyer, other_buyer, ticket, outbox):
    order_id = reserve(buyer, ticket.id).json()["id"]

    response = buyer.delete(f"/api/orders/{order_id}")

    assert response.status_code == 204
    assert response.content == b""
    order = Order.objects.get(pk=order_id)
    assert (order.status, order.version, order.cancel_reason) == ("cancelled", 1, "by_buyer")
    assert outbox("order.cancelled") == [
        {
            "type": "order.cancelled",
            "aggregateid": order_id,
            "data": {"id": order_id, "version": 1, "ticket": {"id": str(ticket.id)},
                     "tickets": [{"id": str(ticket.id)}], "user_id": BUYER_ID, "reason": "by_buyer"},
        }
    ]
    shown = buyer.get(f"/api/orders/{order_id}").json()
    assert (shown["status"], shown["cancel_reason"]) == ("cancelled", "by_buyer")
    assert reserve(other_buyer, ticket.id).status_code == 201


def test_cancelling_a_cancelled_order_changes_nothing(buyer, outbox):
    order = OrderFactory(user_id=BUYER_ID, status=Order.Status.CANCELLED, version=1)

    response = buyer.delete(f"/api/orders/{order.id}")

    assert response.status_code == 204
    order.refresh_from_db()
    assert (order.status, order.version) == ("cancelled", 1)
    assert outbox() == []


def test_a_complete_order_cannot_be_cancelled(buyer, outbox):
    order = OrderFactory(user_id=BUYER_ID, status=Order.Status.COMPLETE, version=1)

    response = buyer.delete(f"/api/orders/{order.id}")

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Cannot cancel a complete order"}]}
    order.refresh_from_db()
    assert (order.status, order.version) == ("complete", 1)
    assert outbox() == []


def test_cancelling_someone_elses_order_is_forbidden(other_buyer, outbox):
    order = OrderFactory(user_id=BUYER_ID)

    response = other_buyer.delete(f"/api/orders/{order.id}")

    assert response.status_code == 403
    assert response.json() == {"errors": [{"message": "You do not have permission to perform this action."}]}
    order.refresh_from_db()
    assert (order.status, order.version) == ("created", 0)
    assert outbox() == []


def test_cancelling_an_unknown_order_is_404(buyer):
    response = buyer.delete(f"/api/orders/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json() == {"errors": [{"message": "No Order matches the given query."}]}
    assert response.json()["errors"][0]["message"]


def test_cancelling_needs_a_token(api_client, outbox):
    order = OrderFactory(user_id=BUYER_ID)

    assert api_client.delete(f"/api/orders/{order.id}").status_code == 401
    order.refresh_from_db()
    assert order.status == "created" and outbox() == []


# -- around the API -------------------------------------------------------------------


def test_an_unsupported_method_is_405_in_the_error_shape(buyer):
    order = OrderFactory(user_id=BUYER_ID)

    response = buyer.put(f"/api/orders/{order.id}", {}, format="json")

    assert response.status_code == 405
    assert response.json()["errors"][0]["message"]


def test_the_api_lives_at_its_paths_without_a_trailing_slash(buyer):
    order = OrderFactory(user_id=BUYER_ID)

    assert reverse("order-list") == "/api/orders"
    assert reverse("order-detail", kwargs={"pk": order.id}) == f"/api/orders/{order.id}"
    assert resolve("/api/orders").func.view_class is views.OrderListCreate
    assert resolve(f"/api/orders/{order.id}").func.view_class is views.OrderDetail
    assert buyer.get("/api/orders/").status_code == 404
    assert buyer.get(f"/api/orders/{order.id}/").status_code == 404


def test_the_api_serves_its_schema_and_docs(client):
    schema = client.get("/api/orders/schema/")

    assert schema.status_code == 200
    assert b"/api/orders/{id}" in schema.content
    assert client.get("/api/orders/docs/").status_code == 200
