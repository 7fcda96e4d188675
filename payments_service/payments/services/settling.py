"""Settling what Stripe did: a succeeded PaymentIntent becomes its order's payment, once."""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction
from django.utils import timezone

from payments import stripe_gateway as gateway
from payments.models import Order, Payment
from payments.services.common import publish_payment, uuid_or_none
from payments.services.refunds import dispatch_refund, payment_refund
from payments.stripe_gateway import Intent, ProviderUnavailable
from ticketing_shared.events.schemas import PaymentCreated

logger = logging.getLogger(__name__)


def payment_settle(intent: Intent, *, refund_now: bool) -> Payment | None:
    """Record a succeeded PaymentIntent as its order's payment, exactly once.

    Called by the paying request and by the webhook, in either order. Returns the
    payment (``succeeded``, or refunded / refund pending when its order was
    cancelled meanwhile), or None when the intent is not for an order we know, is
    already recorded as another order's payment, or the order had already been paid
    by another intent (this charge is then refunded).
    ``refund_now`` refunds a cancelled order's charge before returning; otherwise a
    task does it after commit.
    """
    if intent.status != "succeeded":
        raise ValueError(f"PaymentIntent {intent.id} has not succeeded ({intent.status})")
    order_id = uuid_or_none(intent.metadata.get("order_id"))
    if order_id is None:
        logger.info("PaymentIntent %s names no order of ours; ignored", intent.id)
        return None
    now = timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:
            logger.error("PaymentIntent %s succeeded for unknown order %s", intent.id, order_id)
            return None
        paid_order = (
            Payment.objects.filter(stripe_id=intent.id).exclude(order=order).values_list("order_id", flat=True).first()
        )
        if paid_order is not None:  # never settle nor refund another order's charge
            logger.error("PaymentIntent %s names order %s but pays order %s; ignored", intent.id, order_id, paid_order)
            return None
        payment = Payment.objects.select_for_update().filter(order=order).first()
        duplicate = payment is not None and payment.status != Payment.Status.PENDING
        if duplicate and payment.stripe_id == intent.id:
            return payment  # settled already
        if not duplicate:
            payment = payment or Payment(order=order)
            payment.stripe_id = intent.id
            payment.amount = gateway.from_minor_units(intent.amount, intent.currency)
            payment.currency = intent.currency
            payment.attempt = payment.lease_until = None
            payment.succeeded_at = now
            if order.status == Order.Status.CANCELLED:  # the payment lost the race with the expiry
                payment.status = Payment.Status.REFUND_PENDING
                logger.warning("Order %s was cancelled before payment %s settled: refunding", order.pk, payment.pk)
            else:
                payment.status = Payment.Status.SUCCEEDED
            payment.save()
            if payment.status == Payment.Status.SUCCEEDED:
                publish_payment(payment, PaymentCreated)
            elif not refund_now:
                transaction.on_commit(partial(dispatch_refund, payment.pk), robust=True)
    if duplicate:
        logger.error(
            "Order %s was already paid by %s; refunding the second charge %s", order_id, payment.stripe_id, intent.id
        )
        try:
            gateway.refund_intent(intent.id, idempotency_key=f"refund-{intent.id}")
        except gateway.InvalidRequest as error:
            logger.error("Stripe refuses to refund the second charge %s: %s", intent.id, error)
        return None
    if payment.status == Payment.Status.REFUND_PENDING and refund_now:
        try:
            payment = payment_refund(payment_id=payment.pk)
        except (ProviderUnavailable, gateway.InvalidRequest) as error:
            logger.warning("Refund of payment %s postponed to the sweep: %s", payment.pk, error)
    return payment


def stripe_event_handle(event: gateway.WebhookEvent) -> bool:
    """A verified Stripe webhook. Only a succeeded PaymentIntent needs anything from us.

    Returns False for an event type we deliberately ignore. Raises
    :class:`~payments.stripe_gateway.BadWebhook` (400) for a ``payment_intent.succeeded``
    we cannot use: a malformed PaymentIntent, or one whose status is not ``succeeded``.
    """
    if event.type != "payment_intent.succeeded":
        logger.debug("Stripe event %s (%s) needs nothing from us", event.id, event.type)
        return False
    intent = gateway.webhook_intent(event.object)
    if intent.status != "succeeded":
        raise gateway.BadWebhook(f"payment_intent.succeeded for a PaymentIntent whose status is {intent.status!r}")
    payment_settle(intent, refund_now=False)
    return True
