"""Events the expiration service consumes.

``order.created`` schedules the order's deadline. ``order.cancelled`` and
``order.completed`` are not needed for correctness here: they only spare an
event the orders service would ignore anyway, and are safe in any order against
``order.created`` (they arrive on other topics, so they may overtake it).
"""

from __future__ import annotations

from functools import partial

from django.db import transaction

from expirations import services, wakeups
from expirations.models import Expiration
from ticketing_shared.events.registry import handles
from ticketing_shared.events.schemas import OrderCancelled, OrderCompleted, OrderCreated


@handles(OrderCreated)
def order_created(order: OrderCreated) -> None:
    expiration = services.expiration_schedule(order_id=order.id, expires_at=order.expires_at)
    if expiration.status == Expiration.Status.PENDING:
        # Only a speed-up, after the consumer's commit: the beat's poll fires it anyway.
        transaction.on_commit(partial(wakeups.request_wakeup, at=expiration.expires_at), robust=True)


@handles(OrderCancelled)
def order_cancelled(order: OrderCancelled) -> None:
    services.expiration_stand_down(order_id=order.id, reason=Expiration.Status.ORDER_CANCELLED)


@handles(OrderCompleted)
def order_completed(order: OrderCompleted) -> None:
    services.expiration_stand_down(order_id=order.id, reason=Expiration.Status.ORDER_COMPLETED)
