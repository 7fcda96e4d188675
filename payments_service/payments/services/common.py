"""What the payment services share: their events and what became of a PaymentIntent."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from payments import stripe_gateway as gateway
from payments.models import Payment
from payments.stripe_gateway import Intent, ProviderUnavailable
from ticketing_shared.events import publish
from ticketing_shared.events.schemas import PaymentCreated

logger = logging.getLogger(__name__)

# PaymentIntent states that can still lead to a charge: an abandoned intent in one
# of them is cancelled so that it never does.
CANCELLABLE = ("requires_payment_method", "requires_confirmation", "requires_action", "requires_capture")


def publish_payment(payment: Payment, schema: type[PaymentCreated]) -> None:
    """Keyed by the payment (the aggregate id), so its created and refunded stay in order.

    An order has one payment, so this keeps one order's payment events in order too.
    """
    publish(schema(id=payment.pk, order_id=payment.order_id, stripe_id=payment.stripe_id, amount=payment.amount))


def uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def finalise_abandoned_intent(intent_id: str) -> Intent:
    """What became of an intent nobody is working on: succeeded, processing, or now cancelled."""
    intent = retrieve_intent(intent_id)
    if intent.status in CANCELLABLE:
        try:
            intent = gateway.cancel_intent(intent_id)
        except gateway.InvalidRequest:  # it moved on meanwhile (confirmed by a late request)
            intent = retrieve_intent(intent_id)
    return intent


def retrieve_intent(intent_id: str) -> Intent:
    """An intent Stripe does not know could never be charged: it counts as cancelled."""
    try:
        return gateway.retrieve_intent(intent_id)
    except gateway.InvalidRequest as error:
        if error.http_status != 404:
            logger.error("Stripe refuses to show PaymentIntent %s: %s", intent_id, error)
            raise ProviderUnavailable() from error
        logger.warning("PaymentIntent %s is unknown to Stripe: nothing to charge or refund", intent_id)
        return Intent(id=intent_id, status="canceled", amount=0, currency="")
