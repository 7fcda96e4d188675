"""The replica of the orders we charge, kept by the orders service's events."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from payments.models import Order, Payment
from payments.services.refunds import dispatch_refund
from ticketing_shared.versioning import replica_apply

logger = logging.getLogger(__name__)


def order_replica_create(
    *,
    order_id: uuid.UUID,
    user_id: uuid.UUID,
    status: str,
    expires_at: datetime,
    price: Any,
    ticket_id: uuid.UUID,
    version: int,
) -> None:
    """Insert the order as ``order.created`` describes it; a replay changes nothing."""
    Order.objects.bulk_create(
        [
            Order(
                id=order_id,
                user_id=user_id,
                status=status,
                expires_at=expires_at,
                price=price,
                ticket_id=ticket_id,
                version=version,
            )
        ],
        ignore_conflicts=True,  # INSERT ... ON CONFLICT DO NOTHING
    )


def order_replica_update(*, order_id: uuid.UUID, version: int, price: Any, ticket_id: uuid.UUID) -> bool:
    """Apply ``order.updated``: the buyer's cart changed, so its total (what we charge) did."""
    values = {"price": price, "ticket_id": ticket_id, "updated_at": timezone.now()}
    return replica_apply(Order, pk=order_id, version=version, values=values)


def order_replica_complete(*, order_id: uuid.UUID, version: int) -> bool:
    return replica_apply(
        Order, pk=order_id, version=version, values={"status": Order.Status.COMPLETE, "updated_at": timezone.now()}
    )


def order_replica_cancel(*, order_id: uuid.UUID, version: int) -> bool:
    """Apply ``order.cancelled``; a succeeded payment of that order is then refunded.

    The refund itself is a Stripe call, so it happens after this transaction commits
    (a Celery task, with the reconciliation sweep as its safety net), never inside
    the consumer's transaction.
    """
    with transaction.atomic():
        applied = replica_apply(
            Order, pk=order_id, version=version, values={"status": Order.Status.CANCELLED, "updated_at": timezone.now()}
        )
        # A repeated cancel (the orders service repeats it when a payment arrives for a
        # cancelled order) still checks for a payment to refund.
        if not applied and not Order.objects.filter(pk=order_id, status=Order.Status.CANCELLED).exists():
            return False
        payment = Payment.objects.select_for_update().filter(order_id=order_id).first()
        if payment is not None and payment.status == Payment.Status.SUCCEEDED:
            payment.status = Payment.Status.REFUND_PENDING
            payment.save(update_fields=["status", "updated_at"])
            logger.warning("Order %s was cancelled after payment %s succeeded: refunding", order_id, payment.id)
            transaction.on_commit(partial(dispatch_refund, payment.id), robust=True)
    return applied
