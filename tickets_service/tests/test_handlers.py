"""Order events decide who holds a ticket; they arrive on three topics, so in any order."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import TicketFactory, order_created, order_ended
from ticketing_shared.events.models import ProcessedEvent
from ticketing_shared.events.registry import PoisonMessage
from tickets.models import Reservation, Ticket

pytestmark = pytest.mark.django_db


def state(ticket: Ticket) -> tuple:
    ticket.refresh_from_db()
    return ticket.order_id and str(ticket.order_id), ticket.status, ticket.version


def updates(outbox) -> list[tuple]:
    """The ``ticket.updated`` events written: (order_id, version)."""
    return [(e["data"]["order_id"], e["data"]["version"]) for e in outbox("ticket.updated")]


@pytest.fixture
def ticket(db):
    return TicketFactory(title="Concert", price="20.00")


# -- order.created -----------------------------------------------------------------


def test_order_created_holds_the_ticket_and_publishes_ticket_updated(deliver, ticket, outbox, api_client):
    data = order_created(ticket)

    assert deliver("order.created", data) is True

    assert state(ticket) == (data["id"], "reserved", 1)
    assert outbox("ticket.updated") == [
        {
            "type": "ticket.updated",
            "aggregateid": str(ticket.id),
            "data": {
                "id": str(ticket.id),
                "title": "Concert",
                "price": "20.00",
                "user_id": str(ticket.user_id),
                "order_id": data["id"],
                "owner_id": None,
                "version": 1,
                "starts_at": None, "venue": "", "city": "", "category": "other", "description": "",
                "unlisted": False,
            },
        }
    ]
    assert api_client.get("/api/tickets").json()["count"] == 0
    reservation = Reservation.objects.get()
    assert (str(reservation.order_id), reservation.status, reservation.version) == (data["id"], "active", 0)


def test_a_redelivered_order_created_is_applied_once(deliver, ticket, outbox):
    data, event_id = order_created(ticket), str(uuid.uuid4())

    assert deliver("order.created", data, event_id=event_id) is True
    assert deliver("order.created", data, event_id=event_id) is False

    assert state(ticket) == (data["id"], "reserved", 1)
    assert updates(outbox) == [(data["id"], 1)]
    assert ProcessedEvent.objects.filter(event_id=event_id).count() == 1


def test_the_same_order_created_twice_under_new_event_ids_changes_nothing_more(deliver, ticket, outbox):
    data = order_created(ticket)
    deliver("order.created", data)
    deliver("order.created", data)

    assert state(ticket) == (data["id"], "reserved", 1)
    assert len(updates(outbox)) == 1


def test_a_newer_order_takes_a_ticket_still_held_by_an_expired_one(deliver, ticket, outbox):
    """The old order's cancel is on another topic and may come later: the newer order wins now."""
    old = order_created(ticket, expires_at=timezone.now() - timedelta(minutes=1))
    new = order_created(ticket)
    deliver("order.created", old)

    deliver("order.created", new)
    assert state(ticket) == (new["id"], "reserved", 2)

    deliver("order.cancelled", order_ended(ticket, old["id"]))  # the late cancel of the old order
    assert state(ticket) == (new["id"], "reserved", 2), "the old order's cancel must not free the newer hold"
    assert updates(outbox) == [(old["id"], 1), (new["id"], 2)]


def test_the_cancel_of_the_old_order_then_the_new_order_in_commit_order(deliver, ticket, outbox):
    old = order_created(ticket, expires_at=timezone.now() - timedelta(minutes=1))
    new = order_created(ticket)
    deliver("order.created", old)

    deliver("order.cancelled", order_ended(ticket, old["id"]))
    assert state(ticket) == (None, "available", 2)
    deliver("order.created", new)
    assert state(ticket) == (new["id"], "reserved", 3)


def test_a_late_order_created_of_an_older_order_does_not_take_the_ticket_from_a_newer_one(deliver, ticket, outbox):
    old = order_created(ticket, expires_at=timezone.now() - timedelta(minutes=1))
    new = order_created(ticket)

    deliver("order.created", new)
    deliver("order.created", old)  # arrives late: its partition lagged
    assert state(ticket) == (new["id"], "reserved", 1)

    deliver("order.cancelled", order_ended(ticket, old["id"]))
    assert state(ticket) == (new["id"], "reserved", 1)
    assert updates(outbox) == [(new["id"], 1)]


def test_an_order_created_arriving_after_its_own_cancel_does_not_hold_the_ticket(deliver, ticket, outbox):
    order = order_created(ticket)

    deliver("order.cancelled", order_ended(ticket, order["id"], version=1))
    deliver("order.created", order)

    assert state(ticket) == (None, "available", 0)
    assert updates(outbox) == []
    reservation = Reservation.objects.get()
    assert (reservation.status, reservation.version, reservation.expires_at is not None) == ("cancelled", 1, True)


def test_order_created_for_an_unknown_ticket_is_a_poison_message(deliver, outbox):
    data = order_created(Ticket(id=uuid.uuid4(), price="1.00"))
    event_id = str(uuid.uuid4())

    with pytest.raises(PoisonMessage):
        deliver("order.created", data, event_id=event_id)

    assert not ProcessedEvent.objects.filter(event_id=event_id).exists()
    assert not Reservation.objects.exists() and outbox() == []


@pytest.mark.parametrize(
    "broken",
    [
        {"id": "nope"},
        {"ticket": None},
        {"ticket": {"id": "nope"}},
        {"ticket": {}},
        {"version": "1"},
        {"version": -1},
        {"version": None},
        {"expires_at": "tomorrow"},
        {"expires_at": "2026-13-01T00:00:00+00:00"},
        {"expires_at": "2026-01-01T00:00:00"},  # no time zone: ambiguous
        {"expires_at": None},
    ],
)
def test_malformed_order_created_is_a_poison_message(deliver, ticket, outbox, broken):
    with pytest.raises(PoisonMessage):
        deliver("order.created", {**order_created(ticket), **broken})
    assert state(ticket) == (None, "available", 0)
    assert outbox() == []


def test_an_order_event_naming_an_unknown_ticket_is_a_poison_message(deliver, ticket, outbox):
    order = order_created(ticket)
    order["tickets"] = [{"id": str(ticket.id), "price": "20.00"}, {"id": str(uuid.uuid4()), "price": "20.00"}]

    with pytest.raises(PoisonMessage):
        deliver("order.created", order)
    assert state(ticket) == (None, "available", 0)


# -- order.cancelled ---------------------------------------------------------------


def test_order_cancelled_frees_the_ticket_held_by_that_order(deliver, ticket, outbox, api_client):
    order = order_created(ticket)
    deliver("order.created", order)

    assert deliver("order.cancelled", order_ended(ticket, order["id"])) is True

    assert state(ticket) == (None, "available", 2)
    assert updates(outbox) == [(order["id"], 1), (None, 2)]
    assert [t["id"] for t in api_client.get("/api/tickets").json()["results"]] == [str(ticket.id)]
    assert Reservation.objects.get().status == "cancelled"


def test_a_redelivered_order_cancelled_is_applied_once(deliver, ticket, outbox):
    order = order_created(ticket)
    deliver("order.created", order)
    cancelled, event_id = order_ended(ticket, order["id"]), str(uuid.uuid4())

    assert deliver("order.cancelled", cancelled, event_id=event_id) is True
    # Meanwhile a new order holds the ticket; the redelivery must not touch it.
    newer = order_created(ticket, expires_at=timezone.now() + timedelta(minutes=30))
    deliver("order.created", newer)
    assert deliver("order.cancelled", cancelled, event_id=event_id) is False

    assert state(ticket) == (newer["id"], "reserved", 3)


def test_order_cancelled_of_an_order_not_holding_the_ticket_changes_nothing(deliver, ticket, outbox):
    order = order_created(ticket)
    deliver("order.created", order)

    deliver("order.cancelled", order_ended(ticket, uuid.uuid4()))

    assert state(ticket) == (order["id"], "reserved", 1)
    assert len(updates(outbox)) == 1


def test_order_cancelled_for_a_free_ticket_changes_nothing(deliver, ticket, outbox):
    deliver("order.cancelled", order_ended(ticket, uuid.uuid4()))

    assert state(ticket) == (None, "available", 0)
    assert outbox() == []


def test_order_cancelled_for_an_unknown_ticket_is_a_poison_message(deliver):
    with pytest.raises(PoisonMessage):
        deliver("order.cancelled", order_ended(Ticket(id=uuid.uuid4()), uuid.uuid4()))


# -- order.completed ---------------------------------------------------------------


def test_order_completed_sells_the_ticket_for_good(deliver, ticket, outbox, api_client, seller_of):
    order = order_created(ticket)
    deliver("order.created", order)

    assert deliver("order.completed", order_ended(ticket, order["id"], version=2)) is True

    assert state(ticket) == (order["id"], "sold", 2)
    assert ticket.sold_at is not None
    assert updates(outbox) == [(order["id"], 1), (order["id"], 2)]
    assert api_client.get("/api/tickets").json()["count"] == 0
    mine = seller_of(ticket).get("/api/tickets/mine").json()["results"]
    assert [(t["id"], t["status"]) for t in mine] == [(str(ticket.id), "sold")]


def test_a_redelivered_order_completed_is_applied_once(deliver, ticket, outbox):
    order = order_created(ticket)
    deliver("order.created", order)
    completed, event_id = order_ended(ticket, order["id"], version=2), str(uuid.uuid4())

    assert deliver("order.completed", completed, event_id=event_id) is True
    assert deliver("order.completed", completed, event_id=event_id) is False
    deliver("order.completed", completed)  # even under another event id

    assert state(ticket) == (order["id"], "sold", 2)
    assert len(updates(outbox)) == 2


def test_a_cancel_after_completion_never_frees_a_sold_ticket(deliver, ticket, outbox):
    order = order_created(ticket)
    deliver("order.created", order)
    deliver("order.completed", order_ended(ticket, order["id"], version=2))

    deliver("order.cancelled", order_ended(ticket, order["id"], version=3))

    assert state(ticket) == (order["id"], "sold", 2)
    assert len(updates(outbox)) == 2


def test_a_stale_order_or_its_cancel_never_unsells_a_ticket(deliver, ticket, outbox):
    old = order_created(ticket, expires_at=timezone.now() - timedelta(minutes=1))
    new = order_created(ticket)
    deliver("order.created", new)
    deliver("order.completed", order_ended(ticket, new["id"], version=2))

    deliver("order.created", old)
    deliver("order.cancelled", order_ended(ticket, old["id"]))
    deliver("order.created", order_created(ticket, expires_at=timezone.now() + timedelta(hours=1)))

    assert state(ticket) == (new["id"], "sold", 2)
    assert len(updates(outbox)) == 2


def test_order_completed_before_order_created_sells_and_the_late_created_changes_nothing(deliver, ticket, outbox):
    order = order_created(ticket)

    deliver("order.completed", order_ended(ticket, order["id"], version=2))
    assert state(ticket) == (order["id"], "sold", 1)
    deliver("order.created", order)

    assert state(ticket) == (order["id"], "sold", 1)
    assert Reservation.objects.get().status == "complete"


def test_order_completed_takes_the_ticket_from_an_older_holder_whose_cancel_is_late(deliver, ticket, outbox):
    old = order_created(ticket, expires_at=timezone.now() - timedelta(minutes=1))
    new = order_created(ticket)
    deliver("order.created", old)

    deliver("order.completed", order_ended(ticket, new["id"], version=2))
    deliver("order.cancelled", order_ended(ticket, old["id"]))

    assert state(ticket) == (new["id"], "sold", 2)


# -- an operator's refund: the one cancel that frees a sold ticket ---------------------------


def refunded(ticket, order_id, *, version=3, reason="operator") -> dict:
    """``order.cancelled`` of an operator's refund of a complete order (created 0, completed 2 here)."""
    return {**order_ended(ticket, order_id, version=version), "reason": reason}


def test_an_operators_refund_of_the_sale_puts_the_ticket_on_sale_again(deliver, ticket, outbox, api_client):
    order = order_created(ticket)
    deliver("order.created", order)
    deliver("order.completed", order_ended(ticket, order["id"], version=2))

    assert deliver("order.cancelled", refunded(ticket, order["id"])) is True

    assert state(ticket) == (None, "available", 3)
    assert ticket.sold_at is None
    assert updates(outbox) == [(order["id"], 1), (order["id"], 2), (None, 3)]
    assert [t["id"] for t in api_client.get("/api/tickets").json()["results"]] == [str(ticket.id)]
    assert Reservation.objects.get().status == "cancelled"


@pytest.mark.parametrize("reason", [None, "expired", "by_buyer", "price_changed"])
def test_no_other_cancel_frees_a_sold_ticket(deliver, ticket, outbox, reason):
    order = order_created(ticket)
    deliver("order.created", order)
    deliver("order.completed", order_ended(ticket, order["id"], version=2))

    deliver("order.cancelled", refunded(ticket, order["id"], reason=reason))

    assert state(ticket) == (order["id"], "sold", 2)


def test_an_operators_cancel_of_another_order_never_frees_a_sold_ticket(deliver, ticket, outbox):
    """A stale cancel, even an operator's, must not free the ticket another order bought."""
    old = order_created(ticket, expires_at=timezone.now() - timedelta(minutes=1))
    new = order_created(ticket)
    deliver("order.created", old)
    deliver("order.created", new)
    deliver("order.completed", order_ended(ticket, new["id"], version=2))

    deliver("order.cancelled", refunded(ticket, old["id"], version=1))

    assert state(ticket) == (new["id"], "sold", 3)


def test_an_operators_cancel_older_than_the_sale_never_frees_it(deliver, ticket, outbox):
    """Only a cancel newer than the completion undoes it: orders cancels a paid order only after completing it."""
    order = order_created(ticket)
    deliver("order.created", order)
    deliver("order.completed", order_ended(ticket, order["id"], version=2))

    deliver("order.cancelled", refunded(ticket, order["id"], version=1))
    deliver("order.cancelled", refunded(ticket, order["id"], version=2))

    assert state(ticket) == (order["id"], "sold", 2)


def test_a_refund_repeated_after_the_ticket_was_reserved_again_changes_nothing(deliver, ticket, outbox):
    order = order_created(ticket)
    deliver("order.created", order)
    deliver("order.completed", order_ended(ticket, order["id"], version=2))
    deliver("order.cancelled", refunded(ticket, order["id"]))
    newer = order_created(ticket, expires_at=timezone.now() + timedelta(minutes=30))
    deliver("order.created", newer)

    deliver("order.cancelled", refunded(ticket, order["id"]))  # the orders service says a cancel again

    assert state(ticket) == (newer["id"], "reserved", 4)


def test_a_refund_that_overtakes_the_completion_frees_the_ticket_and_the_late_completion_sells_nothing(
    deliver, ticket, outbox
):
    """order.completed and order.cancelled are different topics: the refund's cancel may come first."""
    order = order_created(ticket)
    deliver("order.created", order)

    deliver("order.cancelled", refunded(ticket, order["id"]))
    deliver("order.completed", order_ended(ticket, order["id"], version=2))

    assert state(ticket) == (None, "available", 2)
    assert updates(outbox) == [(order["id"], 1), (None, 2)]
    assert Reservation.objects.get().status == "cancelled"


def test_order_completed_for_an_unknown_ticket_is_a_poison_message(deliver):
    with pytest.raises(PoisonMessage):
        deliver("order.completed", order_ended(Ticket(id=uuid.uuid4()), uuid.uuid4()))


@pytest.fixture
def seller_of(authed_client):
    return lambda ticket: authed_client(user_id=str(ticket.user_id))
