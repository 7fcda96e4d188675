"""Order events keep the replica we charge from; a cancelled order gets its payment back."""

from __future__ import annotations

from payments import services
from payments.serializers import OrderChangedData, OrderCreatedData
from ticketing_shared.events.registry import Event, handles, validated


@handles("order.created")
def order_created(event: Event) -> None:
    data = validated(event, OrderCreatedData)
    services.order_replica_create(
        order_id=data["id"],
        user_id=data["user_id"],
        status=data["status"],
        expires_at=data["expires_at"],
        price=data["ticket"]["price"],
        ticket_id=data["ticket"]["id"],
        version=data["version"],
    )


@handles("order.cancelled")
def order_cancelled(event: Event) -> None:
    """Before its ``order.created`` (another topic) the order is unknown: RetryLater, from replica_apply."""
    data = validated(event, OrderChangedData)
    services.order_replica_cancel(order_id=data["id"], version=data["version"])


@handles("order.completed")
def order_completed(event: Event) -> None:
    data = validated(event, OrderChangedData)
    services.order_replica_complete(order_id=data["id"], version=data["version"])
