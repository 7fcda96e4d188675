"""Operators' admin: find tickets, see their state, edit through the same service as the API."""

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests.factories import TicketFactory, order_created
from ticketing_shared.testing.helpers import sign_in_operator
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create(username="operator@example.com", is_staff=True, is_superuser=True)
    sign_in_operator(client, user)
    return client


@pytest.fixture
def tickets(db):
    free = TicketFactory(title="Jazz evening")
    held = TicketFactory(title="Jazz brunch", order_id=uuid.uuid4())
    sold = TicketFactory(title="Rock night", order_id=uuid.uuid4(), sold_at=timezone.now())
    return {"free": free, "held": held, "sold": sold}


def form(**fields) -> dict:
    """A change form as the browser posts it, with the (empty) orders inline's management form."""
    return {"reservations-TOTAL_FORMS": "0", "reservations-INITIAL_FORMS": "0", **fields}


def listed(response) -> set[str]:
    assert response.status_code == 200
    return {str(t.pk) for t in response.context["cl"].result_list}


@pytest.mark.parametrize(
    ("status", "expected"),
    [("available", {"free"}), ("reserved", {"held"}), ("sold", {"sold"}), (None, {"free", "held", "sold"})],
)
def test_the_ticket_list_filters_by_state(operator, tickets, status, expected):
    response = operator.get("/admin/tickets/ticket/", {"status": status} if status else {})
    assert listed(response) == {str(tickets[name].pk) for name in expected}


def test_the_ticket_list_searches_titles(operator, tickets):
    response = operator.get("/admin/tickets/ticket/", {"q": "jazz"})
    assert listed(response) == {str(tickets["free"].pk), str(tickets["held"].pk)}


@pytest.mark.parametrize("field", ["id", "user_id", "order_id"])
def test_the_ticket_list_finds_a_ticket_by_its_owner_order_or_own_id(operator, tickets, field):
    value = getattr(tickets["held"], field)
    response = operator.get("/admin/tickets/ticket/", {"q": str(value)})
    assert listed(response) == {str(tickets["held"].pk)}


def test_an_operator_edit_goes_through_the_service_and_publishes(operator, tickets, outbox):
    ticket = tickets["free"]
    response = operator.post(
        f"/admin/tickets/ticket/{ticket.pk}/change/", form(title="Jazz evening, front row", price="35.00")
    )

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.title, ticket.price, ticket.version) == ("Jazz evening, front row", Decimal("35.00"), 1)
    assert [(e["type"], e["data"]["version"]) for e in outbox()] == [("ticket.updated", 1)]


def test_an_operator_cannot_edit_a_reserved_ticket(operator, tickets, outbox):
    ticket = tickets["held"]
    response = operator.post(f"/admin/tickets/ticket/{ticket.pk}/change/", form(title="Changed", price="1.00"))

    assert response.status_code == 200
    assert "Cannot edit a reserved ticket" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.title == "Jazz brunch" and ticket.version == 0
    assert outbox() == []


@pytest.mark.parametrize(("price", "message"), [("0", "greater than or equal to 0.01"), ("10.123", "2 decimal")])
def test_the_admin_form_validates_the_price(operator, tickets, price, message):
    response = operator.post(f"/admin/tickets/ticket/{tickets['free'].pk}/change/", form(title="x", price=price))

    assert response.status_code == 200
    assert message in response.content.decode()


def test_an_operator_lists_a_ticket_for_a_user_through_the_service(operator, outbox):
    user_id = str(uuid.uuid4())
    response = operator.post("/admin/tickets/ticket/add/", form(title="Added by ops", price="12.00", user_id=user_id))

    assert response.status_code == 302
    ticket = Ticket.objects.get()
    assert (ticket.title, str(ticket.user_id), ticket.version) == ("Added by ops", user_id, 0)
    assert [(e["type"], e["aggregateid"]) for e in outbox()] == [("ticket.created", str(ticket.pk))]


def test_the_change_page_shows_the_orders_heard_of(operator, deliver):
    ticket = TicketFactory()
    order = order_created(ticket)
    deliver("order.created", order)

    response = operator.get(f"/admin/tickets/ticket/{ticket.pk}/change/")

    assert response.status_code == 200
    assert order["id"] in response.content.decode()
    assert operator.get("/admin/tickets/reservation/").status_code == 200


def test_tickets_cannot_be_deleted_from_the_admin(operator, tickets):
    response = operator.post(f"/admin/tickets/ticket/{tickets['free'].pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert Ticket.objects.filter(pk=tickets["free"].pk).exists()


def test_an_operator_edit_racing_a_reservation_is_not_saved_and_says_why(operator, tickets, outbox, monkeypatch):
    from tickets import admin as tickets_admin

    ticket, original = tickets["free"], tickets_admin.services.ticket_update

    def reserved_meanwhile(**kwargs):
        Ticket.objects.filter(pk=ticket.pk).update(order_id=uuid.uuid4(), version=1)
        return original(**kwargs)

    monkeypatch.setattr(tickets_admin.services, "ticket_update", reserved_meanwhile)
    response = operator.post(
        f"/admin/tickets/ticket/{ticket.pk}/change/", form(title="Changed", price="1.00"), follow=True
    )

    assert response.redirect_chain == [(f"/admin/tickets/ticket/{ticket.pk}/change/", 302)]
    page = response.content.decode()
    assert "Cannot edit a reserved ticket" in page and "was changed successfully" not in page
    ticket.refresh_from_db()
    assert ticket.title == "Jazz evening"
    assert outbox() == []
