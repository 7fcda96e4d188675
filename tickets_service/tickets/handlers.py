"""Order events, which decide who holds a ticket (SPEC §4 "Contested resources").

Each runs in the consumer's transaction with its inbox row, so a redelivered event
changes nothing. The three topics give no order between them; see
:class:`tickets.models.Reservation` for how a late event is kept from undoing a
newer one. An event naming a ticket we never had can never apply (this service is
where tickets come from): it is a poison message.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.dateparse import parse_datetime

from ticketing_shared.events.registry import Event, PoisonMessage, handles
from tickets import services


@dataclass(frozen=True)
class OrderEvent:
    order_id: uuid.UUID
    ticket_id: uuid.UUID
    version: int
    expires_at: dt.datetime | None


def _uuid(value: Any, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise PoisonMessage(f"{name} is not a UUID: {value!r}") from None


def parse_order_event(event: Event, *, with_expiry: bool = False) -> OrderEvent:
    data = event.data
    ticket = data.get("ticket")
    if not isinstance(ticket, dict):
        raise PoisonMessage(f"{event.type} {event.id} has no ticket object")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise PoisonMessage(f"{event.type} {event.id} has no valid version: {version!r}")
    expires_at = None
    if with_expiry:
        raw = data.get("expires_at")
        try:
            expires_at = parse_datetime(raw) if isinstance(raw, str) else None
        except ValueError:  # well formed but impossible, like month 13
            expires_at = None
        if expires_at is None or expires_at.tzinfo is None:
            raise PoisonMessage(f"{event.type} {event.id} has no valid expires_at: {raw!r}")
    return OrderEvent(
        order_id=_uuid(data.get("id"), "id"),
        ticket_id=_uuid(ticket.get("id"), "ticket.id"),
        version=version,
        expires_at=expires_at,
    )


def _apply(change: Callable[..., Any], **kwargs: Any) -> None:
    """Run a service; what can never apply (an unknown or mismatched ticket) is a poison message."""
    try:
        change(**kwargs)
    except (services.UnknownTicket, services.OrderTicketMismatch) as error:
        raise PoisonMessage(f"{type(error).__name__}: {error}") from error


@handles("order.created")
def on_order_created(event: Event) -> None:
    order = parse_order_event(event, with_expiry=True)
    _apply(
        services.ticket_reserve,
        ticket_id=order.ticket_id,
        order_id=order.order_id,
        order_version=order.version,
        expires_at=order.expires_at,
    )


@handles("order.cancelled")
def on_order_cancelled(event: Event) -> None:
    order = parse_order_event(event)
    _apply(services.ticket_release, ticket_id=order.ticket_id, order_id=order.order_id, order_version=order.version)


@handles("order.completed")
def on_order_completed(event: Event) -> None:
    order = parse_order_event(event)
    _apply(services.ticket_sell, ticket_id=order.ticket_id, order_id=order.order_id, order_version=order.version)
