"""Settling what Stripe did: a succeeded PaymentIntent becomes its order's payment, once."""

from __future__ import annotations

import logging
from functools import partial
from typing import NoReturn

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payments import stripe_gateway as gateway
from payments.models import Order, Payment
from payments.services.common import publish_payment, uuid_or_none
from payments.services.refunds import dispatch_refund, payment_refund
from payments.stripe_gateway import Intent, ProviderUnavailable
from ticketing_shared.errors import InvalidState
from ticketing_shared.events.schemas import PaymentCreated

logger = logging.getLogger(__name__)

CHARGE_MISMATCH = "The charge did not match the order's total, so it was refunded; the order is not paid"


class ChargeMismatch(InvalidState):
    """Stripe charged another amount or currency than the order's total: refunded, never the order's payment."""


def payment_settle(intent: Intent, *, refund_now: bool) -> Payment | None:
    """Record a succeeded PaymentIntent as its order's payment, exactly once.

    Called by the paying request, the webhook and the sweep, in any order. Returns the
    payment (``succeeded``, or refunded / refund pending when its order was
    cancelled meanwhile), or None when the intent is not for an order we know, is
    already recorded as another order's payment, or the order had already been paid
    by another intent (this charge is then refunded).
    ``refund_now`` refunds a cancelled order's charge before returning; otherwise a
    task does it after commit.

    What Stripe reports is checked against what we would charge: an intent whose
    amount or currency is not the order's total (its price in our replica, in
    ``PAYMENTS_CURRENCY``) is refunded and raises :class:`ChargeMismatch`; it is never
    recorded as the order's payment, whatever its metadata says.
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
        mismatch = not _charges_the_total(intent, order)
        if not (duplicate or mismatch):
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
    if mismatch:
        _refuse_mismatch(intent, order)
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


def _charges_the_total(intent: Intent, order: Order) -> bool:
    """The intent charged exactly the order's price, in our currency."""
    currency = settings.STRIPE["CURRENCY"]
    return intent.currency == currency and intent.amount == gateway.to_minor_units(order.price, currency)


def _refuse_mismatch(intent: Intent, order: Order) -> NoReturn:
    """Refund a charge of the wrong total and clear the attempt that made it; raise :class:`ChargeMismatch`.

    A refund Stripe cannot take now (:class:`ProviderUnavailable`) propagates with the
    attempt left as it was: the sweep, or Stripe's next delivery of the webhook, settles
    the intent again and this runs again (the refund lookup makes it one refund).
    """
    currency = settings.STRIPE["CURRENCY"]
    logger.critical(
        "PaymentIntent %s charged %s %s (minor units) for order %s, whose total is %s %s: not the order's payment; "
        "refunding it", intent.id, intent.amount, intent.currency, order.pk,
        gateway.to_minor_units(order.price, currency), currency,
    )
    try:
        gateway.refund_intent(intent.id, idempotency_key=f"refund-{intent.id}")
    except gateway.InvalidRequest as error:
        logger.critical("Stripe refuses to refund the mismatched charge %s: %s", intent.id, error)
    Payment.objects.filter(order=order, status=Payment.Status.PENDING, stripe_id=intent.id).delete()
    raise ChargeMismatch(CHARGE_MISMATCH)


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
    try:
        payment_settle(intent, refund_now=False)
    except ChargeMismatch:
        pass  # refunded and logged: Stripe needs nothing more from us
    return True
