"""Charging an order: at most once, whatever fails.

How one order is charged at most once, without a database transaction held open
across a Stripe call (a slow Stripe would otherwise pin row locks and connections):

1. *Claim* (short transaction, order row locked): check owner, status, expiry and
   payment; insert the order's one ``Payment`` row as a ``pending`` attempt with a
   token and a lease. The row is unique per order, so a concurrent request finds it
   and gets "in progress" instead of charging again.
2. *Charge* (no transaction): create the PaymentIntent unconfirmed, store its id on
   the attempt, then confirm it. Storing the id before confirming means a charge
   can never happen that we cannot find again.
3. *Settle* (short transaction, order row locked): mark the payment succeeded and
   publish ``payment.created`` with it, or, when the order was cancelled meanwhile,
   refund it instead. The webhook settles the same way, keyed by the PaymentIntent,
   so whichever comes second changes nothing.

A request that dies between 2 and 3 leaves a ``pending`` row whose lease runs out;
the next request for that order (or the reconciliation sweep) asks Stripe what
became of its PaymentIntent: a charge is settled, anything else is cancelled and a
new attempt starts. Declined attempts are deleted, so a decline records nothing.

Stripe idempotency keys are ``<order id>-<attempt number>``: a network retry of one
attempt is deduplicated by Stripe, while a new attempt after a decline (another
card) is a new request, which a key of the bare order id would forbid (Stripe
replays the first answer, the decline, for 24 hours).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from payments import leases
from payments import stripe_gateway as gateway
from payments.models import Order, Payment
from payments.services.common import finalise_abandoned_intent, retrieve_intent
from payments.services.settling import payment_settle
from payments.stripe_gateway import CardDeclined, Intent, ProviderUnavailable
from ticketing_shared.errors import Conflict, Forbidden, InvalidState, NotFound

logger = logging.getLogger(__name__)

ORDER_NOT_FOUND = "Order not found."
NOT_YOUR_ORDER = "You can only pay for your own orders."
ALREADY_PAID = "Order already paid"
ORDER_CANCELLED = "Order is cancelled"
ORDER_EXPIRED = "Order has expired"
TOTAL_CHANGED = "The order's total changed; reload it and pay the new total"
IN_PROGRESS = "A payment for this order is already in progress"
REFUNDED_AFTER_CANCEL = "The order was cancelled before the payment went through; the charge has been refunded"
REFUND_DUE_AFTER_CANCEL = "The order was cancelled before the payment went through; the charge will be refunded"
NEEDS_AUTHENTICATION = "This card requires authentication, which is not supported here. Please use another card."
AUTHENTICATION_INCOMPLETE = "The card's authentication is not complete yet."
AUTHENTICATION_FAILED = "The card's authentication failed. Please try again or use another card."
PAYMENT_NOT_FOUND = "Payment not found."


@dataclass(frozen=True)
class ActionRequired:
    """The card needs the buyer to authenticate (3-D Secure) in the browser: Stripe.js does it
    with ``client_secret``, then :func:`payment_confirm` (or Stripe's webhook) settles it."""

    payment: Payment
    client_secret: str


@dataclass(frozen=True)
class _Claim:
    """An attempt this request (or job) owns until its lease runs out."""

    payment_id: uuid.UUID
    token: uuid.UUID
    order_id: uuid.UUID
    number: int
    amount: int
    currency: str
    stale_intent_id: str | None  # the PaymentIntent of a dead attempt we took over

    @property
    def idempotency_key(self) -> str:
        return f"{self.order_id}-{self.number}"

    def rows(self):
        """The attempt's row, as long as it is still ours."""
        return leases.held(self.payment_id, self.token).filter(status=Payment.Status.PENDING)

    def release(self) -> None:
        leases.release(self.payment_id, self.token)


def payment_create(
    *, order_id: uuid.UUID, user_id: str, email: str, payment_method: str, expected_total: Decimal | None = None
) -> Payment | ActionRequired:
    """Charge the order's price (its total) to ``payment_method`` (a PaymentMethod id or a Stripe.js token).

    ``expected_total`` is what the buyer saw: when our copy of the order says another
    total (a cart changed and the news has not reached us yet, or it changed again),
    nothing is charged (``Conflict``).

    A card that needs 3-D Secure answers :class:`ActionRequired`: the attempt stays ours
    for ``PAYMENT_AUTHENTICATION_SECONDS`` while the buyer authenticates in the browser.

    Raises 404/403/400 for an order that cannot be paid by this user now,
    :class:`CardDeclined` (402) and :class:`ProviderUnavailable` (503).
    """
    claim = _attempt_claim(order_id=order_id, user_id=user_id, expected_total=expected_total)
    if claim.stale_intent_id:
        settled = _attempt_take_over(claim)
        if settled is not None:
            return _answer(settled)
    intent = _attempt_charge(claim, payment_method=payment_method, email=email)
    if intent.status == "processing":  # the card network confirms later: the webhook settles it
        return Payment.objects.get(pk=claim.payment_id)
    if intent.status == "requires_action":
        return ActionRequired(payment=Payment.objects.get(pk=claim.payment_id), client_secret=intent.client_secret)
    return _answer(payment_settle(intent, refund_now=True))


def payment_confirm(*, payment_id: uuid.UUID, user_id: str) -> Payment:
    """The buyer's browser finished the card's authentication: settle the charge with what
    Stripe says now. Succeeded: the payment (as from :func:`payment_create`); still
    processing: the pending payment (the webhook settles it); still waiting for the buyer:
    ``InvalidState``; failed: the attempt is dropped and ``CardDeclined``, so another card
    can be tried. Asking again after it settled answers the same payment."""
    payment = Payment.objects.select_related("order").filter(pk=payment_id).first()
    if payment is None:
        raise NotFound(PAYMENT_NOT_FOUND)
    if str(payment.order.user_id) != user_id:
        raise Forbidden(NOT_YOUR_ORDER)
    if payment.status != Payment.Status.PENDING:
        return _answer(payment)
    if not payment.stripe_id:
        raise InvalidState(IN_PROGRESS)
    intent = retrieve_intent(payment.stripe_id)
    if intent.status == "succeeded":
        return _answer(payment_settle(intent, refund_now=True))
    if intent.status == "processing":
        return payment
    if intent.status in ("requires_action", "requires_confirmation"):
        raise InvalidState(AUTHENTICATION_INCOMPLETE)
    gateway.cancel_intent_quietly(intent.id)
    Payment.objects.filter(pk=payment.pk, status=Payment.Status.PENDING, stripe_id=intent.id).delete()
    raise CardDeclined(intent.error_message or AUTHENTICATION_FAILED)


def _attempt_claim(*, order_id: uuid.UUID, user_id: str, expected_total: Decimal | None = None) -> _Claim:
    now = timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:
            raise NotFound(ORDER_NOT_FOUND)
        if str(order.user_id) != user_id:
            raise Forbidden(NOT_YOUR_ORDER)
        payment = Payment.objects.select_for_update().filter(order=order).first()
        if order.status == Order.Status.COMPLETE or (payment and payment.status == Payment.Status.SUCCEEDED):
            raise InvalidState(ALREADY_PAID)
        if order.status == Order.Status.CANCELLED:
            raise InvalidState(ORDER_CANCELLED)
        if payment and payment.status != Payment.Status.PENDING:  # refunded by an operator
            raise InvalidState(ALREADY_PAID)
        if order.is_expired(now):
            raise InvalidState(ORDER_EXPIRED)
        if expected_total is not None and expected_total != order.price:
            raise Conflict(TOTAL_CHANGED, field="expected_total")
        token = uuid.uuid4()
        lease = leases.expiry()
        currency = settings.STRIPE["CURRENCY"]
        stale_intent_id = None
        if payment is None:
            payment = Payment.objects.create(
                order=order, amount=order.price, currency=currency, attempt=token, lease_until=lease
            )
        elif payment.lease_until and payment.lease_until > now:
            raise InvalidState(IN_PROGRESS)
        else:  # the request that owned it died, or gave up on an unreachable Stripe
            stale_intent_id = payment.stripe_id
            Payment.objects.filter(pk=payment.pk).update(
                attempt=token, lease_until=lease, amount=order.price, currency=currency, updated_at=now
            )
        Order.objects.filter(pk=order.pk).update(payment_attempts=F("payment_attempts") + 1)
    return _Claim(
        payment_id=payment.pk,
        token=token,
        order_id=order.pk,
        number=order.payment_attempts + 1,
        amount=gateway.to_minor_units(order.price, currency),
        currency=currency,
        stale_intent_id=stale_intent_id,
    )


def _attempt_take_over(claim: _Claim) -> Payment | None:
    """Finish a dead attempt: its charge is settled (returned), anything else is cancelled (None)."""
    try:
        intent = finalise_abandoned_intent(claim.stale_intent_id)
    except ProviderUnavailable:
        claim.release()
        raise
    if intent.status == "succeeded":
        return payment_settle(intent, refund_now=True)
    if intent.status != "canceled":  # still processing at Stripe
        claim.release()
        raise InvalidState(IN_PROGRESS)
    claim.rows().update(stripe_id=None)
    return None


def _attempt_charge(claim: _Claim, *, payment_method: str, email: str) -> Intent:
    """Create the PaymentIntent, record it, confirm it. Returns it succeeded, processing, or
    waiting for the buyer to authenticate (``requires_action``, its lease lengthened)."""
    key = claim.idempotency_key
    try:
        customer, method = None, payment_method
        if payment_method.startswith("tok_"):
            customer, method = gateway.customer_for_token(
                token=payment_method, email=email, idempotency_key=f"{key}-customer"
            )
        intent = gateway.create_intent(
            amount=claim.amount,
            currency=claim.currency,
            payment_method=method,
            customer=customer,
            metadata={"order_id": str(claim.order_id), "payment_id": str(claim.payment_id)},
            idempotency_key=key,
        )
    except gateway.InvalidRequest as error:  # an unknown or unusable payment method
        claim.rows().delete()
        raise InvalidState(error.message, field="payment_method") from error
    except (CardDeclined, ProviderUnavailable):  # nothing was confirmed: nothing to keep
        claim.rows().delete()
        raise
    if not claim.rows().update(stripe_id=intent.id):
        gateway.cancel_intent_quietly(intent.id)  # we were too slow and lost the attempt
        raise InvalidState(IN_PROGRESS)

    try:
        intent = gateway.confirm_intent(intent.id, idempotency_key=f"{key}-confirm")
    except CardDeclined:
        gateway.cancel_intent_quietly(intent.id)
        claim.rows().delete()
        raise
    except ProviderUnavailable:
        # The charge may or may not have happened: keep the intent's id and end the
        # lease, so the next request (or the sweep) asks Stripe at once.
        claim.release()
        raise
    except gateway.InvalidRequest as error:  # refused outright: did it charge anyway?
        try:
            intent = retrieve_intent(intent.id)
        except ProviderUnavailable:
            claim.release()
            raise
        if intent.status != "succeeded":
            gateway.cancel_intent_quietly(intent.id)
            claim.rows().delete()
            raise InvalidState(error.message, field="payment_method") from error

    if intent.status in ("succeeded", "processing"):
        return intent
    if intent.status == "requires_action" and intent.client_secret:
        # 3-D Secure: the browser does it with Stripe.js; the sweep cancels it if nobody does.
        until = timezone.now() + timedelta(seconds=settings.PAYMENT_AUTHENTICATION_SECONDS)
        claim.rows().update(lease_until=until)
        return intent
    # requires_action we cannot hand to a browser, or a soft decline
    gateway.cancel_intent_quietly(intent.id)
    claim.rows().delete()
    raise CardDeclined(
        NEEDS_AUTHENTICATION
        if intent.status == "requires_action"
        else intent.error_message or CardDeclined.default_message
    )


def _answer(payment: Payment | None) -> Payment:
    """What the buyer who asked to pay hears about a settled charge."""
    if payment is None:  # the order had been paid with another PaymentIntent; this one was refunded
        raise InvalidState(ALREADY_PAID)
    if payment.status == Payment.Status.REFUNDED:
        raise InvalidState(REFUNDED_AFTER_CANCEL)
    if payment.status == Payment.Status.REFUND_PENDING:
        raise InvalidState(REFUND_DUE_AFTER_CANCEL)
    return payment
