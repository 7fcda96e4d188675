"""The consumer that ``manage.py consume_events`` runs, on the real broker with our handlers."""

import threading
import uuid

import pytest

from tests.factories import TicketFactory, order_created, order_ended
from ticketing_shared.events.consumer import ConsumerRunner
from ticketing_shared.events.models import DeadLetter
from ticketing_shared.events.registry import registered_types
from ticketing_shared.testing.helpers import envelope, produce_raw, wait_for
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_service_consumes_the_three_order_events():
    assert registered_types() == ["order.cancelled", "order.completed", "order.created", "order.updated"]


def test_order_events_from_kafka_hold_and_sell_a_ticket_and_poison_goes_to_the_dead_letters(kafka_broker):
    ticket = TicketFactory()
    order = order_created(ticket)
    unknown = order_created(Ticket(id=uuid.uuid4(), price="1.00"))
    produce_raw("order.created", envelope("order.created", order), key=order["id"])
    produce_raw("order.created", envelope("order.created", unknown), key=unknown["id"])
    produce_raw("order.created", b"{not json", key="garbage")

    runner = ConsumerRunner(group_id=f"tickets-test-{uuid.uuid4().hex[:8]}")
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: Ticket.objects.filter(pk=ticket.pk, order_id=order["id"]).exists())
        produce_raw(
            "order.completed", envelope("order.completed", order_ended(ticket, order["id"], version=2)), key=order["id"]
        )
        wait_for(lambda: Ticket.objects.get(pk=ticket.pk).status == "sold")
        wait_for(lambda: DeadLetter.objects.count() == 2)
    finally:
        runner.stop()
        thread.join(20)

    assert not thread.is_alive()
    letters = {letter.key: letter for letter in DeadLetter.objects.all()}
    assert "UnknownTicket" in letters[unknown["id"]].error
    assert letters["garbage"].error.startswith("PoisonMessage")
    assert all(letter.status == DeadLetter.Status.PENDING for letter in letters.values())
