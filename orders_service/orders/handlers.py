"""Events the orders service consumes (SPEC §4).

The consumer runner applies each event in one transaction with its inbox row, so a
redelivered event never reaches these functions twice; they are also safe on their
own if it did (every one is a no-op the second time).
"""

from __future__ import annotations

from rest_framework import serializers

from orders import services
from orders.models import Order
from ticketing_shared.events.registry import Event, PoisonMessage, handles, validated


class TicketCreatedData(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField(trim_whitespace=False)
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    user_id = serializers.UUIDField()
    version = serializers.IntegerField(min_value=0)


class TicketUpdatedData(TicketCreatedData):
    order_id = serializers.UUIDField(allow_null=True, required=False)


class ExpirationCompleteData(serializers.Serializer):
    order_id = serializers.UUIDField()


class PaymentCreatedData(serializers.Serializer):
    """Only what this service acts on; the rest of the payment is the payments service's."""

    order_id = serializers.UUIDField()


@handles("ticket.created")
def ticket_created(event: Event) -> None:
    data = validated(event, TicketCreatedData)
    services.ticket_replica_create(
        ticket_id=data["id"],
        title=data["title"],
        price=data["price"],
        user_id=data["user_id"],
        version=data["version"],
    )


@handles("ticket.updated")
def ticket_updated(event: Event) -> None:
    data = validated(event, TicketUpdatedData)
    services.ticket_replica_update(
        ticket_id=data["id"], title=data["title"], price=data["price"], version=data["version"]
    )


@handles("expiration.complete")
def expiration_complete(event: Event) -> None:
    data = validated(event, ExpirationCompleteData)
    try:
        services.order_expire(order_id=data["order_id"])
    except Order.DoesNotExist:
        # Orders are born here, before their expiration is even scheduled: an unknown
        # id can never become applicable.
        raise PoisonMessage(f"expiration.complete for unknown order {data['order_id']}") from None


@handles("payment.created")
def payment_created(event: Event) -> None:
    data = validated(event, PaymentCreatedData)
    try:
        services.order_complete(order_id=data["order_id"])
    except Order.DoesNotExist:
        raise PoisonMessage(f"payment.created for unknown order {data['order_id']}") from None
