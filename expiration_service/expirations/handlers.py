"""Events the expiration service consumes.

``order.created`` schedules the order's deadline. ``order.cancelled`` and
``order.completed`` are not in SPEC §4's list for this service: they only spare an
event the orders service would ignore anyway, and are safe in any order against
``order.created`` (they arrive on other topics, so they may overtake it).
"""

from __future__ import annotations

from rest_framework import serializers

from expirations import services
from expirations.models import Expiration
from ticketing_shared.events.registry import Event, handles, validated


class OrderCreatedData(serializers.Serializer):
    """Only what this service needs of ``{id, status, user_id, expires_at, version, ticket}``."""

    id = serializers.UUIDField()
    expires_at = serializers.DateTimeField()


class OrderEndedData(serializers.Serializer):
    id = serializers.UUIDField()


@handles("order.created")
def order_created(event: Event) -> None:
    data = validated(event, OrderCreatedData)
    services.expiration_schedule(order_id=data["id"], expires_at=data["expires_at"])


@handles("order.cancelled")
def order_cancelled(event: Event) -> None:
    data = validated(event, OrderEndedData)
    services.expiration_stand_down(order_id=data["id"], reason=Expiration.Status.ORDER_CANCELLED)


@handles("order.completed")
def order_completed(event: Event) -> None:
    data = validated(event, OrderEndedData)
    services.expiration_stand_down(order_id=data["id"], reason=Expiration.Status.ORDER_COMPLETED)
