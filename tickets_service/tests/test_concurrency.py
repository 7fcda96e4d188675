"""Concurrent writes on real PostgreSQL (READ COMMITTED): the version decides, nothing is lost.

Each test makes the race certain instead of likely: every writer is held just before
its write until all of them have read the ticket.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from tests.conftest import SELLER_ID, errors
from tests.factories import TicketFactory, order_created, order_ended
from ticketing_shared.events.models import OutboxEvent
from ticketing_shared.versioning import VersionedModel
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)

original_save_versioned = VersionedModel.save_versioned


def in_thread(target, *args):
    """Run ``target`` on its own database connection; returns (thread, results list)."""
    results: list = []

    def run():
        try:
            results.append(target(*args))
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, results


def hold_edits_until(
    monkeypatch, barrier: threading.Barrier, *, go: threading.Event | None = None, write=original_save_versioned
) -> None:
    """Every edit (a write of the title) waits at ``barrier`` after reading, before writing;
    then, with ``go``, until the test sets it."""

    def waiting(self, *, update_fields):
        if "title" in update_fields:
            barrier.wait(timeout=10)
            if go is not None:
                assert go.wait(timeout=10)
        return write(self, update_fields=update_fields)

    monkeypatch.setattr(VersionedModel, "save_versioned", waiting)


def put(client, ticket, title):
    return client.put(f"/api/tickets/{ticket.id}", {"title": title, "price": "30"}, format="json")


def test_two_concurrent_edits_one_wins_the_other_gets_a_conflict(authed_client, monkeypatch):
    ticket = TicketFactory(user_id=SELLER_ID, title="Original")
    hold_edits_until(monkeypatch, threading.Barrier(2))

    threads = [in_thread(put, authed_client(user_id=SELLER_ID), ticket, title) for title in ("First", "Second")]
    for thread, _ in threads:
        thread.join(20)
    responses = [results[0] for _, results in threads]

    assert sorted(r.status_code for r in responses) == [200, 409]
    winner = next(r for r in responses if r.status_code == 200).json()
    loser = next(r for r in responses if r.status_code == 409)
    assert errors(loser) == [{"message": "The ticket was changed meanwhile; reload it and try again."}]
    ticket.refresh_from_db()
    assert (ticket.title, ticket.version) == (winner["title"], 1)
    events = list(OutboxEvent.objects.filter(type="ticket.updated").values_list("payload", flat=True))
    assert [(e["title"], e["version"]) for e in events] == [(winner["title"], 1)]


def test_without_the_version_check_the_same_race_loses_an_update(authed_client, monkeypatch):
    """The race above is real: a plain write lets both edits 'succeed' and one silently vanishes."""

    def unguarded(self, *, update_fields):
        type(self).objects.filter(pk=self.pk).update(
            version=self.version + 1, **{name: getattr(self, name) for name in update_fields}
        )
        self.version += 1

    ticket = TicketFactory(user_id=SELLER_ID, title="Original")
    hold_edits_until(monkeypatch, threading.Barrier(2), write=unguarded)

    threads = [in_thread(put, authed_client(user_id=SELLER_ID), ticket, title) for title in ("First", "Second")]
    for thread, _ in threads:
        thread.join(20)

    assert [results[0].status_code for _, results in threads] == [200, 200]
    ticket.refresh_from_db()
    assert ticket.version == 1, "two edits, one version: one of them was lost"


def test_an_edit_racing_a_reservation_is_refused_and_the_hold_stands(authed_client, monkeypatch, deliver):
    ticket = TicketFactory(user_id=SELLER_ID, title="Original", price="20.00")
    barrier, go = threading.Barrier(2), threading.Event()
    hold_edits_until(monkeypatch, barrier, go=go)

    thread, results = in_thread(put, authed_client(user_id=SELLER_ID), ticket, "Cheaper")
    barrier.wait(timeout=10)  # the edit has read the ticket while it was still free
    order = order_created(ticket)
    deliver("order.created", order)  # committed before the edit writes
    go.set()
    thread.join(20)

    response = results[0]
    assert response.status_code == 400
    assert errors(response) == [{"message": "Cannot edit a reserved ticket"}]
    ticket.refresh_from_db()
    assert (ticket.title, ticket.price, str(ticket.order_id), ticket.version) == (
        "Original",
        Decimal("20.00"),
        order["id"],
        1,
    )
    assert [e.payload["order_id"] for e in OutboxEvent.objects.filter(type="ticket.updated")] == [order["id"]]


def test_concurrent_order_events_for_one_ticket_apply_one_at_a_time(deliver):
    """Two consumers handling events of one ticket at once: the row lock serialises them."""
    ticket = TicketFactory()
    order = order_created(ticket)
    barrier = threading.Barrier(2)

    def apply(event_type, data):
        barrier.wait(timeout=10)
        return deliver(event_type, data)

    threads = [
        in_thread(apply, "order.created", order),
        in_thread(apply, "order.completed", order_ended(ticket, order["id"], version=2)),
    ]
    for thread, _ in threads:
        thread.join(20)

    assert [results for _, results in threads] == [[True], [True]]
    ticket = Ticket.objects.get(pk=ticket.pk)
    assert (str(ticket.order_id), ticket.status) == (order["id"], "sold")
    versions = [e.payload["version"] for e in OutboxEvent.objects.filter(type="ticket.updated").order_by("seq")]
    assert versions == list(range(1, ticket.version + 1)), "every change has its own version, none skipped"
