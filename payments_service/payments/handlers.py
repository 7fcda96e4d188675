"""Order events keep the replica we charge from; a cancelled order gets its payment back."""

from __future__ import annotations

from payments import services
from ticketing_shared.events.registry import handles
from ticketing_shared.events.schemas import OrderCancelled, OrderCompleted, OrderCreated, OrderUpdated


@handles(OrderCreated)
def order_created(order: OrderCreated) -> None:
    services.order_replica_create(order_id=order.id, user_id=order.user_id, status=order.status,
                                  expires_at=order.expires_at, price=order.order_total(), ticket_id=order.ticket.id,
                                  version=order.version)


@handles(OrderUpdated)
def order_updated(order: OrderUpdated) -> None:
    """A cart changed: charge its new total. Before its ``order.created`` it is unknown: RetryLater."""
    services.order_replica_update(order_id=order.id, version=order.version, price=order.total,
                                  ticket_id=order.ticket.id)


@handles(OrderCancelled)
def order_cancelled(order: OrderCancelled) -> None:
    """Before its ``order.created`` (another topic) the order is unknown: RetryLater, from replica_apply."""
    services.order_replica_cancel(order_id=order.id, version=order.version)


@handles(OrderCompleted)
def order_completed(order: OrderCompleted) -> None:
    services.order_replica_complete(order_id=order.id, version=order.version)
