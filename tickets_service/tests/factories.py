from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from tickets.models import Ticket


class TicketFactory(factory.django.DjangoModelFactory):
    """A ticket straight in the database (no outbox event): for arranging a test, not for acting."""

    class Meta:
        model = Ticket

    title = factory.Sequence(lambda n: f"Concert {n}")
    price = Decimal("20.00")
    user_id = factory.LazyFunction(uuid.uuid4)


def order_created(ticket: Ticket, *, order_id: uuid.UUID | None = None, version: int = 0, expires_at=None) -> dict:
    """``order.created`` data as the orders service publishes it (docs/events.md)."""
    return {
        "id": str(order_id or uuid.uuid4()),
        "status": "created",
        "user_id": str(uuid.uuid4()),
        "expires_at": (expires_at or timezone.now() + timedelta(minutes=15)).isoformat(),
        "version": version,
        "ticket": {"id": str(ticket.id), "price": str(ticket.price)},
    }


def order_ended(ticket: Ticket, order_id: str | uuid.UUID, *, version: int = 1) -> dict:
    """``order.cancelled`` / ``order.completed`` data."""
    return {"id": str(order_id), "version": version, "ticket": {"id": str(ticket.id)}}
