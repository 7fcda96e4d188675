"""The operators' admin: find orders, cancel them through the service (so it publishes)."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from orders.models import Order
from tests.factories import OrderFactory, TicketFactory
from ticketing_shared.testing.helpers import sign_in_operator

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/order/"


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("ops@example.com", "ops@example.com", "ops-password-1")
    sign_in_operator(client, user)
    return client


def listed(response) -> set[str]:
    return {str(order.id) for order in response.context["cl"].result_list}


def test_the_admin_filters_orders_by_status(operator):
    created = OrderFactory()
    cancelled = OrderFactory(status=Order.Status.CANCELLED)

    assert listed(operator.get(CHANGELIST)) == {str(created.id), str(cancelled.id)}
    assert listed(operator.get(CHANGELIST, {"status__exact": "cancelled"})) == {str(cancelled.id)}


def test_the_admin_finds_orders_by_id_and_by_user(operator):
    buyer = uuid.uuid4()
    mine = [OrderFactory(user_id=buyer), OrderFactory(user_id=buyer)]
    other = OrderFactory()

    assert listed(operator.get(CHANGELIST, {"q": str(other.id)})) == {str(other.id)}
    assert listed(operator.get(CHANGELIST, {"q": str(buyer)})) == {str(order.id) for order in mine}


def test_the_admin_lists_expired_orders_not_yet_cancelled(operator):
    expired = OrderFactory(expires_at=timezone.now() - timedelta(minutes=1))
    OrderFactory()
    OrderFactory(status=Order.Status.COMPLETE, expires_at=timezone.now() - timedelta(minutes=1))

    assert listed(operator.get(CHANGELIST, {"expired": "yes"})) == {str(expired.id)}


def test_an_order_is_shown_read_only(operator):
    order = OrderFactory()

    page = operator.get(f"{CHANGELIST}{order.pk}/change/")
    assert page.status_code == 200
    assert not page.context["has_change_permission"]

    response = operator.post(f"{CHANGELIST}{order.pk}/change/", {"status": "complete"})
    assert response.status_code == 403
    order.refresh_from_db()
    assert (order.status, order.version) == ("created", 0)


def test_the_cancel_action_goes_through_the_service_and_publishes(operator, outbox):
    pending = OrderFactory()
    complete = OrderFactory(status=Order.Status.COMPLETE, version=1)

    response = operator.post(
        CHANGELIST, {"action": "cancel", "_selected_action": [str(pending.pk), str(complete.pk)]}, follow=True
    )

    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert f"Order {complete.pk}: Cannot cancel a complete order" in shown
    assert "1 order(s) cancelled" in shown
    pending.refresh_from_db()
    complete.refresh_from_db()
    assert (pending.status, pending.version, pending.cancel_reason) == ("cancelled", 1, "operator")
    assert (complete.status, complete.version) == ("complete", 1)
    assert [(event["type"], event["aggregateid"], event["data"]["reason"]) for event in outbox()] == [
        ("order.cancelled", str(pending.pk), "operator")
    ]


def test_the_admin_shows_and_filters_why_orders_were_cancelled(operator):
    by_price = OrderFactory(status=Order.Status.CANCELLED, cancel_reason=Order.CancelReason.PRICE_CHANGED)
    OrderFactory(status=Order.Status.CANCELLED, cancel_reason=Order.CancelReason.EXPIRED)
    OrderFactory()

    response = operator.get(CHANGELIST, {"cancel_reason__exact": "price_changed"})

    assert listed(response) == {str(by_price.id)}
    assert "The seller changed the price" in response.content.decode()
    page = operator.get(f"{CHANGELIST}{by_price.pk}/change/").content.decode()
    assert "Cancel reason" in page and "The seller changed the price" in page


def test_ticket_replicas_are_listed_read_only(operator):
    ticket = TicketFactory(title="Jazz night")

    response = operator.get("/admin/orders/ticket/", {"q": "jazz"})

    assert response.status_code == 200
    assert [t.pk for t in response.context["cl"].result_list] == [ticket.pk]
    assert operator.get("/admin/orders/ticket/add/").status_code == 403
