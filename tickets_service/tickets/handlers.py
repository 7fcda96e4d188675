"""Order events, which decide who holds a ticket (docs/architecture.md, "Contested resources").

Each runs in the consumer's transaction with its inbox row, so a redelivered event
changes nothing. The three topics give no order between them; see
:class:`tickets.models.Reservation` for how a late event is kept from undoing a
newer one. An event naming a ticket we never had can never apply (this service is
where tickets come from): it is a poison message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ticketing_shared.events.registry import PoisonMessage, handles
from ticketing_shared.events.schemas import OrderCancelled, OrderCompleted, OrderCreated, OrderUpdated
from tickets import services


def _apply(change: Callable[..., Any], **kwargs: Any) -> None:
    """Run a service; what can never apply (an unknown or mismatched ticket) is a poison message."""
    try:
        change(**kwargs)
    except services.UnknownTicket as error:
        raise PoisonMessage(f"{type(error).__name__}: {error}") from error


def _ids(order: OrderCreated | OrderCompleted) -> list:
    return [ticket.id for ticket in order.all_tickets()]


@handles(OrderCreated)
def order_created(order: OrderCreated) -> None:
    _apply(services.ticket_reserve, ticket_id=order.ticket.id, ticket_ids=_ids(order), order_id=order.id,
           order_version=order.version, expires_at=order.expires_at, user_id=order.user_id)


@handles(OrderUpdated)
def order_updated(order: OrderUpdated) -> None:
    """Tickets added to or taken out of an unpaid order: it holds exactly ``tickets`` now."""
    _apply(services.ticket_reserve, ticket_id=order.ticket.id, ticket_ids=_ids(order), order_id=order.id,
           order_version=order.version, expires_at=order.expires_at, user_id=order.user_id)


@handles(OrderCancelled)
def order_cancelled(order: OrderCancelled) -> None:
    _apply(services.ticket_release, ticket_id=order.ticket.id, ticket_ids=_ids(order), order_id=order.id,
           order_version=order.version, reason=order.reason)


@handles(OrderCompleted)
def order_completed(order: OrderCompleted) -> None:
    _apply(services.ticket_sell, ticket_id=order.ticket.id, ticket_ids=_ids(order), order_id=order.id,
           order_version=order.version, user_id=order.user_id)
