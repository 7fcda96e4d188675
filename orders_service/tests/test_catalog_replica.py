"""The replica's event details (starts_at, venue, ...; unlisted) and the buyer's emails."""

import email
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from orders import notifications, services
from orders.models import BuyerContact, Notification, Order, Ticket
from tests.conftest import BUYER_ID, reserve
from tests.factories import OrderFactory, TicketFactory

pytestmark = pytest.mark.django_db

SELLER_ID = str(uuid.uuid4())


def ticket_data(ticket_id, version=0, **extra):
    return {"id": str(ticket_id), "title": "Hamlet", "price": "60.00", "user_id": SELLER_ID, "version": version,
            **extra}


def test_ticket_created_with_details_fills_the_replica(deliver):
    ticket_id = uuid.uuid4()
    starts_at = timezone.now() + timedelta(days=3)

    deliver("ticket.created", ticket_data(ticket_id, starts_at=starts_at.isoformat(), venue="The Globe",
                                          city="London", category="theatre", description="Front row"))

    ticket = Ticket.objects.get(pk=ticket_id)
    assert (ticket.venue, ticket.city, ticket.category, ticket.description) == (
        "The Globe", "London", "theatre", "Front row")
    assert ticket.starts_at == starts_at and ticket.unlisted is False


def test_an_old_event_without_details_still_applies_and_keeps_what_the_replica_had(deliver):
    ticket_id = uuid.uuid4()
    deliver("ticket.created", ticket_data(ticket_id, venue="The Globe", city="London"))

    assert deliver("ticket.updated", ticket_data(ticket_id, 1, order_id=None) | {"price": "70.00"}) is True

    ticket = Ticket.objects.get(pk=ticket_id)
    assert (ticket.price, ticket.venue, ticket.city, ticket.version) == (Decimal("70.00"), "The Globe", "London", 1)


def test_an_update_can_clear_the_start(deliver):
    ticket_id = uuid.uuid4()
    deliver("ticket.created", ticket_data(ticket_id, starts_at=(timezone.now() + timedelta(days=1)).isoformat()))

    deliver("ticket.updated", ticket_data(ticket_id, 1, starts_at=None))

    assert Ticket.objects.get(pk=ticket_id).starts_at is None


def test_an_unlisted_ticket_cannot_be_reserved(deliver, buyer):
    ticket_id = uuid.uuid4()
    deliver("ticket.created", ticket_data(ticket_id))
    deliver("ticket.updated", ticket_data(ticket_id, 1, unlisted=True))

    response = reserve(buyer, ticket_id)

    assert response.status_code == 404
    assert response.json() == {"errors": [{"message": "Ticket not found"}]}
    assert not Order.objects.exists()


def test_a_started_event_cannot_be_reserved(buyer):
    ticket = TicketFactory(starts_at=timezone.now() - timedelta(minutes=1))

    response = reserve(buyer, ticket.id)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "This event has already started"}]}
    assert not Order.objects.exists()


def test_a_future_event_can_be_reserved(buyer):
    ticket = TicketFactory(starts_at=timezone.now() + timedelta(hours=1))

    assert reserve(buyer, ticket.id).status_code == 201


# -- emails ---------------------------------------------------------------------------------


def _message(index: int = 0) -> email.message.Message:
    return email.message_from_bytes(mail.outbox[index].message().as_bytes())


def _parts(message) -> dict[str, str]:
    return {part.get_content_type(): part.get_payload(decode=True).decode() for part in message.walk()
            if not part.is_multipart()}


def test_reserving_remembers_the_buyers_address(buyer, ticket):
    reserve(buyer, ticket.id)

    assert BuyerContact.objects.get(user_id=BUYER_ID).email == "buyer@example.com"


def test_a_paid_order_emails_the_buyer_once_with_text_and_html(buyer, django_capture_on_commit_callbacks):
    ticket = TicketFactory(title="Hamlet", price=Decimal("60.00"), venue="The Globe", city="London",
                           starts_at=timezone.now() + timedelta(days=3))
    order_id = reserve(buyer, ticket.id).json()["id"]

    with django_capture_on_commit_callbacks():
        assert services.order_complete(order_id=order_id, amount=Decimal("60.00")) is True
    notifications.send_notifications()
    services.order_complete(order_id=order_id, amount=Decimal("60.00"))  # a repeat: no second email
    notifications.send_notifications()

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["buyer@example.com"]
    parts = _parts(_message())
    for part in (parts["text/plain"], parts["text/html"]):
        assert "Hamlet" in part and "The Globe" in part and "London" in part and "$60.00" in part
    assert Notification.objects.get().sent_at is not None


def test_a_paid_order_of_two_tickets_names_both_and_the_total(buyer, django_capture_on_commit_callbacks):
    hamlet = TicketFactory(title="Hamlet", price=Decimal("60.00"), venue="The Globe", city="London",
                           starts_at=timezone.now() + timedelta(days=3))
    opera = TicketFactory(title="Tosca", price=Decimal("45.50"), venue="Royal Opera House", city="London",
                          starts_at=timezone.now() + timedelta(days=5))
    response = buyer.post("/api/orders", {"ticket_ids": [str(hamlet.id), str(opera.id)]}, format="json")
    assert response.status_code == 201
    order_id = response.json()["id"]

    with django_capture_on_commit_callbacks():
        assert services.order_complete(order_id=order_id, amount=Decimal("105.50")) is True
    assert notifications.send_notifications() == 1

    assert mail.outbox[0].subject == "Your tickets: Hamlet and 1 more"
    parts = _parts(_message())
    for part in (parts["text/plain"], parts["text/html"]):
        assert "Hamlet" in part and "The Globe" in part and "$60.00" in part
        assert "Tosca" in part and "Royal Opera House" in part and "$45.50" in part
        assert "Total: $105.50" in part


def test_an_expired_reservation_emails_the_buyer(buyer, ticket):
    order_id = reserve(buyer, ticket.id).json()["id"]

    assert services.order_expire(order_id=order_id) is True
    assert notifications.send_notifications() == 1

    assert mail.outbox[0].subject == f"Your reservation expired: {ticket.title}"
    assert "not charged" in _parts(_message())["text/plain"]


def test_a_cancel_by_the_buyer_emails_nobody(buyer, ticket):
    order_id = reserve(buyer, ticket.id).json()["id"]

    buyer.delete(f"/api/orders/{order_id}")

    assert notifications.send_notifications() == 0
    assert mail.outbox == []


def test_a_failing_mail_server_is_retried_later(buyer, ticket, settings):
    order_id = reserve(buyer, ticket.id).json()["id"]
    services.order_expire(order_id=order_id)
    settings.EMAIL_BACKEND = "tests.test_catalog_replica.BrokenBackend"

    assert notifications.send_notifications() == 0
    notification = Notification.objects.get()
    assert notification.sent_at is None and notification.attempts == 1 and "refused" in notification.last_error

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notifications.send_notifications() == 1


def test_an_order_of_an_unknown_buyer_is_skipped(ticket):
    order = OrderFactory(ticket=ticket)
    services.order_expire(order_id=order.id)

    assert notifications.send_notifications() == 0
    assert Notification.objects.get().sent_at is not None


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("refused")
