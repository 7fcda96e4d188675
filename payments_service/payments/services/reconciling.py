"""The sweep: finish what crashes and outages left behind."""

from __future__ import annotations

import logging
import uuid

from payments import leases
from payments import stripe_gateway as gateway
from payments.models import Payment
from payments.services.common import finalise_abandoned_intent
from payments.services.refunds import payment_refund
from payments.services.settling import ChargeMismatch, payment_settle
from payments.stripe_gateway import ProviderUnavailable

logger = logging.getLogger(__name__)


def payments_reconcile(*, limit: int = 100) -> dict[str, int]:
    """Finish what crashes and outages left: refunds still due, attempts whose request died."""
    done = {"refunded": 0, "settled": 0, "abandoned": 0}
    free = leases.free()
    due = Payment.objects.filter(free, status=Payment.Status.REFUND_PENDING).values_list("pk", flat=True)
    for payment_id in list(due[:limit]):
        try:
            if payment_refund(payment_id=payment_id).status == Payment.Status.REFUNDED:
                done["refunded"] += 1
        except ProviderUnavailable:
            return done  # Stripe is down: next round
        except gateway.InvalidRequest as error:
            logger.error("Stripe refuses to refund payment %s: %s", payment_id, error)
    dead = Payment.objects.filter(free, status=Payment.Status.PENDING).values_list("pk", flat=True)
    for payment_id in list(dead[:limit]):
        try:
            outcome = _reconcile_dead_attempt(payment_id)
        except ProviderUnavailable:
            return done
        if outcome:
            done[outcome] += 1
    return done


def _reconcile_dead_attempt(payment_id: uuid.UUID) -> str | None:
    token = leases.take(payment_id, status=Payment.Status.PENDING)
    if token is None:
        return None
    rows = leases.held(payment_id, token).filter(status=Payment.Status.PENDING)
    stripe_id = rows.values_list("stripe_id", flat=True).first()
    if stripe_id:
        try:
            intent = finalise_abandoned_intent(stripe_id)
        except ProviderUnavailable:
            leases.release(payment_id, token)
            raise
        if intent.status == "succeeded":
            try:
                payment_settle(intent, refund_now=True)
            except ChargeMismatch:  # refunded and cleared, never the order's payment
                return "abandoned"
            return "settled"
        if intent.status != "canceled":
            return None  # processing: look again once this lease is over
    rows.delete()
    logger.info("Abandoned payment attempt %s cleared", payment_id)
    return "abandoned"
