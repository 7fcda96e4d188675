"""Orders of several tickets: every event names them all, and a cart changes with order.updated."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import TicketFactory
from tickets.models import Reservation, Ticket

pytestmark = pytest.mark.django_db

BUYER = str(uuid.uuid4())


def cart(tickets, *, order_id=None, version=0, status="created", expires_at=None) -> dict:
    """``order.created`` / ``order.updated`` data of an order of ``tickets``."""
    return {
        "id": str(order_id or uuid.uuid4()),
        "status": status,
        "user_id": BUYER,
        "expires_at": (expires_at or timezone.now() + timedelta(minutes=15)).isoformat(),
        "version": version,
        "ticket": {"id": str(tickets[0].id), "price": str(tickets[0].price)},
        "tickets": [{"id": str(t.id), "price": str(t.price)} for t in tickets],
        "total": str(sum(t.price for t in tickets)),
    }


def ended(tickets, order_id, *, version, reason=None) -> dict:
    data = {"id": str(order_id), "version": version, "ticket": {"id": str(tickets[0].id)},
            "tickets": [{"id": str(t.id)} for t in tickets], "user_id": BUYER}
    if reason:
        data["reason"] = reason
    return data


def holders(*tickets) -> list:
    return [(str(t.order_id) if t.order_id else None, t.status) for t in
            (Ticket.objects.get(pk=ticket.pk) for ticket in tickets)]


def test_an_order_of_two_tickets_holds_both_and_its_completion_sells_both_to_the_buyer(deliver):
    first, second = TicketFactory(), TicketFactory()
    order = cart([first, second])

    deliver("order.created", order)
    assert holders(first, second) == [(order["id"], "reserved")] * 2

    deliver("order.completed", ended([first, second], order["id"], version=1))
    assert holders(first, second) == [(order["id"], "sold")] * 2
    assert {str(t.owner_id) for t in Ticket.objects.filter(pk__in=[first.pk, second.pk])} == {BUYER}


def test_a_cancel_frees_every_ticket_of_the_order(deliver):
    first, second = TicketFactory(), TicketFactory()
    order = cart([first, second])
    deliver("order.created", order)

    deliver("order.cancelled", ended([first, second], order["id"], version=1, reason="expired"))

    assert holders(first, second) == [(None, "available")] * 2


def test_order_updated_adds_and_frees_tickets(deliver, outbox):
    first, second, third = TicketFactory(), TicketFactory(), TicketFactory()
    order = cart([first, second])
    deliver("order.created", order)

    deliver("order.updated", cart([second, third], order_id=order["id"], version=1))

    assert holders(first, second, third) == [(None, "available"), (order["id"], "reserved"),
                                              (order["id"], "reserved")]
    assert Reservation.objects.get().ticket_ids == [str(second.id), str(third.id)]


def test_a_late_order_created_does_not_take_back_a_ticket_the_buyer_removed(deliver):
    first, second = TicketFactory(), TicketFactory()
    order_id = uuid.uuid4()

    deliver("order.updated", cart([second], order_id=order_id, version=1))
    deliver("order.created", cart([first, second], order_id=order_id, version=0))

    assert holders(first, second) == [(None, "available"), (str(order_id), "reserved")]


def test_a_late_order_updated_after_the_cancel_holds_nothing(deliver):
    first, second = TicketFactory(), TicketFactory()
    order_id = uuid.uuid4()
    deliver("order.created", cart([first], order_id=order_id, version=0))
    deliver("order.cancelled", ended([first, second], order_id, version=2))

    deliver("order.updated", cart([first, second], order_id=order_id, version=1))

    assert holders(first, second) == [(None, "available")] * 2


def test_a_freed_ticket_of_one_order_is_not_taken_from_another(deliver):
    """A cancel (or removal) frees only what that very order holds."""
    shared, mine = TicketFactory(), TicketFactory()
    old = cart([shared, mine], expires_at=timezone.now() + timedelta(minutes=1))
    new = cart([shared], expires_at=timezone.now() + timedelta(minutes=15))
    deliver("order.created", old)
    deliver("order.created", new)
    assert holders(shared) == [(new["id"], "reserved")]

    deliver("order.cancelled", ended([shared, mine], old["id"], version=1))

    assert holders(shared, mine) == [(new["id"], "reserved"), (None, "available")]


def test_an_operators_refund_frees_every_sold_ticket_and_their_owner(deliver):
    first, second = TicketFactory(), TicketFactory()
    order = cart([first, second])
    deliver("order.created", order)
    deliver("order.completed", ended([first, second], order["id"], version=1))

    deliver("order.cancelled", ended([first, second], order["id"], version=2, reason="operator"))

    assert holders(first, second) == [(None, "available")] * 2
    assert not Ticket.objects.filter(owner_id__isnull=False).exists()
