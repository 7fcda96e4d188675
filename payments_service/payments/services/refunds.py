"""Refunds: of a charge whose order was cancelled, and an operator's."""

from __future__ import annotations

import logging
import uuid

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from payments import leases
from payments import stripe_gateway as gateway
from payments.models import Payment
from payments.services.common import publish_payment
from payments.stripe_gateway import ProviderUnavailable
from ticketing_shared.errors import InvalidState, NotFound
from ticketing_shared.events.schemas import PaymentRefunded

logger = logging.getLogger(__name__)


def payment_refund_request(*, payment_id: uuid.UUID) -> Payment:
    """An operator's refund of a succeeded payment: mark it due, then refund it.

    Its ``payment.refunded`` makes the orders service cancel the order (reason
    ``operator``), whose ``order.cancelled`` puts the ticket on sale again; that cancel
    finds this payment refunded already, so nothing is refunded twice.
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().filter(pk=payment_id).first()
        if payment is None:
            raise NotFound("Payment not found.")
        if payment.status == Payment.Status.SUCCEEDED:
            payment.status = Payment.Status.REFUND_PENDING
            payment.save(update_fields=["status", "updated_at"])
        elif payment.status != Payment.Status.REFUND_PENDING:
            raise InvalidState(f"Only a succeeded payment can be refunded; this one is {payment.status}")
    return payment_refund(payment_id=payment_id)


def payment_refund(*, payment_id: uuid.UUID) -> Payment:
    """Refund a payment whose refund is due, publish ``payment.refunded``; safe to run twice.

    The row is leased while Stripe is called (no transaction is held open), so the
    Celery task, the sweep and the admin never refund one payment twice.
    """
    token = leases.take(payment_id, status=Payment.Status.REFUND_PENDING)
    payment = Payment.objects.get(pk=payment_id)
    if token is None:  # refunded already, or someone else is refunding it
        return payment
    try:
        refund_id = gateway.refund_intent(payment.stripe_id, idempotency_key=f"refund-{payment.pk}")
    except (ProviderUnavailable, gateway.InvalidRequest):
        leases.release(payment_id, token)
        raise
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status != Payment.Status.REFUND_PENDING or payment.attempt != token:
            return payment
        payment.status = Payment.Status.REFUNDED
        payment.refund_id = refund_id
        payment.refunded_at = timezone.now()
        payment.attempt = payment.lease_until = None
        payment.save()
        publish_payment(payment, PaymentRefunded)
    logger.info("Payment %s refunded (%s)", payment.pk, refund_id)
    return payment


@shared_task(name="payments.refund", ignore_result=True)
def refund_payment(payment_id: str) -> None:
    """Refund a payment whose order was cancelled; when Stripe fails, the sweep tries again."""
    try:
        payment_refund(payment_id=payment_id)
    except (ProviderUnavailable, gateway.InvalidRequest) as error:
        logger.warning("Refund of payment %s postponed: %s", payment_id, error)


def dispatch_refund(payment_id: uuid.UUID) -> None:
    """After commit: refund in a worker, not in the caller's request or event."""
    refund_payment.apply_async(args=[str(payment_id)], retry=False)
