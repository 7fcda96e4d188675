"""Every write of the payments service: the order replica, charges, settlements and refunds.

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
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError

from payments import stripe_gateway as gateway
from payments.models import Order, Payment
from payments.stripe_gateway import CardDeclined, Intent, ProviderUnavailable
from ticketing_shared.events import publish
from ticketing_shared.events.schemas import PaymentCreated, PaymentRefunded
from ticketing_shared.versioning import replica_apply

logger = logging.getLogger(__name__)

ORDER_NOT_FOUND = "Order not found."
NOT_YOUR_ORDER = "You can only pay for your own orders."
ALREADY_PAID = "Order already paid"
ORDER_CANCELLED = "Order is cancelled"
ORDER_EXPIRED = "Order has expired"
IN_PROGRESS = "A payment for this order is already in progress"
REFUNDED_AFTER_CANCEL = "The order was cancelled before the payment went through; the charge has been refunded"
REFUND_DUE_AFTER_CANCEL = "The order was cancelled before the payment went through; the charge will be refunded"
NEEDS_AUTHENTICATION = "This card requires authentication, which is not supported here. Please use another card."

# PaymentIntent states that can still lead to a charge: an abandoned intent in one
# of them is cancelled so that it never does.
_CANCELLABLE = ("requires_payment_method", "requires_confirmation", "requires_action", "requires_capture")


# -- the order replica -------------------------------------------------------------


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
            transaction.on_commit(partial(_dispatch_refund, payment.id), robust=True)
    return applied


# -- charging --------------------------------------------------------------------


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
        return Payment.objects.filter(pk=self.payment_id, attempt=self.token, status=Payment.Status.PENDING)


def payment_create(*, order_id: uuid.UUID, user_id: str, email: str, payment_method: str) -> Payment:
    """Charge the order's price to ``payment_method`` (a PaymentMethod id or a Stripe.js token).

    Raises 404/403/400 for an order that cannot be paid by this user now,
    :class:`CardDeclined` (402) and :class:`ProviderUnavailable` (503).
    """
    claim = _attempt_claim(order_id=order_id, user_id=user_id)
    if claim.stale_intent_id:
        settled = _attempt_take_over(claim)
        if settled is not None:
            return _answer(settled)
    intent = _attempt_charge(claim, payment_method=payment_method, email=email)
    if intent.status == "processing":  # the card network confirms later: the webhook settles it
        return Payment.objects.get(pk=claim.payment_id)
    return _answer(payment_settle(intent, refund_now=True))


def _attempt_claim(*, order_id: uuid.UUID, user_id: str) -> _Claim:
    now = timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:
            raise NotFound(ORDER_NOT_FOUND)
        if str(order.user_id) != user_id:
            raise PermissionDenied(NOT_YOUR_ORDER)
        payment = Payment.objects.select_for_update().filter(order=order).first()
        if order.status == Order.Status.COMPLETE or (payment and payment.status == Payment.Status.SUCCEEDED):
            raise ValidationError(ALREADY_PAID)
        if order.status == Order.Status.CANCELLED:
            raise ValidationError(ORDER_CANCELLED)
        if payment and payment.status != Payment.Status.PENDING:  # refunded by an operator
            raise ValidationError(ALREADY_PAID)
        if order.is_expired(now):
            raise ValidationError(ORDER_EXPIRED)
        token = uuid.uuid4()
        lease = now + timedelta(seconds=settings.PAYMENT_ATTEMPT_LEASE_SECONDS)
        currency = settings.STRIPE["CURRENCY"]
        stale_intent_id = None
        if payment is None:
            payment = Payment.objects.create(
                order=order, amount=order.price, currency=currency, attempt=token, lease_until=lease
            )
        elif payment.lease_until and payment.lease_until > now:
            raise ValidationError(IN_PROGRESS)
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
        intent = _finalise_abandoned_intent(claim.stale_intent_id)
    except ProviderUnavailable:
        claim.rows().update(attempt=None, lease_until=None)
        raise
    if intent.status == "succeeded":
        return payment_settle(intent, refund_now=True)
    if intent.status != "canceled":  # still processing at Stripe
        claim.rows().update(attempt=None, lease_until=None)
        raise ValidationError(IN_PROGRESS)
    claim.rows().update(stripe_id=None)
    return None


def _finalise_abandoned_intent(intent_id: str) -> Intent:
    """What became of an intent nobody is working on: succeeded, processing, or now cancelled."""
    intent = _retrieve_intent(intent_id)
    if intent.status in _CANCELLABLE:
        try:
            intent = gateway.cancel_intent(intent_id)
        except gateway.InvalidRequest:  # it moved on meanwhile (confirmed by a late request)
            intent = _retrieve_intent(intent_id)
    return intent


def _retrieve_intent(intent_id: str) -> Intent:
    """An intent Stripe does not know could never be charged: it counts as cancelled."""
    try:
        return gateway.retrieve_intent(intent_id)
    except gateway.InvalidRequest as error:
        if error.http_status != 404:
            logger.error("Stripe refuses to show PaymentIntent %s: %s", intent_id, error)
            raise ProviderUnavailable() from error
        logger.warning("PaymentIntent %s is unknown to Stripe: nothing to charge or refund", intent_id)
        return Intent(id=intent_id, status="canceled", amount=0, currency="")


def _attempt_charge(claim: _Claim, *, payment_method: str, email: str) -> Intent:
    """Create the PaymentIntent, record it, confirm it. Returns it succeeded or processing."""
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
        raise ValidationError({"payment_method": [error.message]}) from error
    except (CardDeclined, ProviderUnavailable):  # nothing was confirmed: nothing to keep
        claim.rows().delete()
        raise
    if not claim.rows().update(stripe_id=intent.id):
        gateway.cancel_intent_quietly(intent.id)  # we were too slow and lost the attempt
        raise ValidationError(IN_PROGRESS)

    try:
        intent = gateway.confirm_intent(intent.id, idempotency_key=f"{key}-confirm")
    except CardDeclined:
        gateway.cancel_intent_quietly(intent.id)
        claim.rows().delete()
        raise
    except ProviderUnavailable:
        # The charge may or may not have happened: keep the intent's id and end the
        # lease, so the next request (or the sweep) asks Stripe at once.
        claim.rows().update(attempt=None, lease_until=None)
        raise
    except gateway.InvalidRequest as error:  # refused outright: did it charge anyway?
        try:
            intent = _retrieve_intent(intent.id)
        except ProviderUnavailable:
            claim.rows().update(attempt=None, lease_until=None)
            raise
        if intent.status != "succeeded":
            gateway.cancel_intent_quietly(intent.id)
            claim.rows().delete()
            raise ValidationError({"payment_method": [error.message]}) from error

    if intent.status in ("succeeded", "processing"):
        return intent
    # requires_action (3-D Secure, which a server-side charge cannot do) or a soft decline
    gateway.cancel_intent_quietly(intent.id)
    claim.rows().delete()
    raise CardDeclined(
        NEEDS_AUTHENTICATION
        if intent.status == "requires_action"
        else intent.error_message or CardDeclined.default_detail
    )


def _answer(payment: Payment | None) -> Payment:
    """What the buyer who asked to pay hears about a settled charge."""
    if payment is None:  # the order had been paid with another PaymentIntent; this one was refunded
        raise ValidationError(ALREADY_PAID)
    if payment.status == Payment.Status.REFUNDED:
        raise ValidationError(REFUNDED_AFTER_CANCEL)
    if payment.status == Payment.Status.REFUND_PENDING:
        raise ValidationError(REFUND_DUE_AFTER_CANCEL)
    return payment


# -- settling what Stripe did ----------------------------------------------------


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
    order_id = _uuid_or_none(intent.metadata.get("order_id"))
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
                _publish(payment, PaymentCreated)
            elif not refund_now:
                transaction.on_commit(partial(_dispatch_refund, payment.pk), robust=True)
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


# -- refunds ---------------------------------------------------------------------


def payment_refund_request(*, payment_id: uuid.UUID) -> Payment:
    """An operator's refund of a succeeded payment: mark it due, then refund it."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().filter(pk=payment_id).first()
        if payment is None:
            raise NotFound("Payment not found.")
        if payment.status == Payment.Status.SUCCEEDED:
            payment.status = Payment.Status.REFUND_PENDING
            payment.save(update_fields=["status", "updated_at"])
        elif payment.status != Payment.Status.REFUND_PENDING:
            raise ValidationError(f"Only a succeeded payment can be refunded; this one is {payment.status}")
    return payment_refund(payment_id=payment_id)


def payment_refund(*, payment_id: uuid.UUID) -> Payment:
    """Refund a payment whose refund is due, publish ``payment.refunded``; safe to run twice.

    The row is leased while Stripe is called (no transaction is held open), so the
    Celery task, the sweep and the admin never refund one payment twice.
    """
    token = uuid.uuid4()
    now = timezone.now()
    claimed = (
        Payment.objects.filter(pk=payment_id, status=Payment.Status.REFUND_PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .update(attempt=token, lease_until=now + timedelta(seconds=settings.PAYMENT_ATTEMPT_LEASE_SECONDS))
    )
    payment = Payment.objects.get(pk=payment_id)
    if not claimed:  # refunded already, or someone else is refunding it
        return payment
    try:
        refund_id = gateway.refund_intent(payment.stripe_id, idempotency_key=f"refund-{payment.pk}")
    except (ProviderUnavailable, gateway.InvalidRequest):
        Payment.objects.filter(pk=payment_id, attempt=token).update(attempt=None, lease_until=None)
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
        _publish(payment, PaymentRefunded)
    logger.info("Payment %s refunded (%s)", payment.pk, refund_id)
    return payment


def _dispatch_refund(payment_id: uuid.UUID) -> None:
    from payments.tasks import refund_payment

    refund_payment.apply_async(args=[str(payment_id)], retry=False)


# -- the sweep -------------------------------------------------------------------


def payments_reconcile(*, limit: int = 100) -> dict[str, int]:
    """Finish what crashes and outages left: refunds still due, attempts whose request died."""
    done = {"refunded": 0, "settled": 0, "abandoned": 0}
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
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
    token = uuid.uuid4()
    now = timezone.now()
    claimed = (
        Payment.objects.filter(pk=payment_id, status=Payment.Status.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .update(attempt=token, lease_until=now + timedelta(seconds=settings.PAYMENT_ATTEMPT_LEASE_SECONDS))
    )
    if not claimed:
        return None
    rows = Payment.objects.filter(pk=payment_id, attempt=token, status=Payment.Status.PENDING)
    stripe_id = rows.values_list("stripe_id", flat=True).first()
    if stripe_id:
        try:
            intent = _finalise_abandoned_intent(stripe_id)
        except ProviderUnavailable:
            rows.update(attempt=None, lease_until=None)
            raise
        if intent.status == "succeeded":
            payment_settle(intent, refund_now=True)
            return "settled"
        if intent.status != "canceled":
            return None  # processing: look again once this lease is over
    rows.delete()
    logger.info("Abandoned payment attempt %s cleared", payment_id)
    return "abandoned"


# -- helpers ---------------------------------------------------------------------


def _publish(payment: Payment, schema: type[PaymentCreated]) -> None:
    """Keyed by the payment (the aggregate id), so its created and refunded stay in order.

    An order has one payment, so this keeps one order's payment events in order too.
    """
    publish(schema(id=payment.pk, order_id=payment.order_id, stripe_id=payment.stripe_id, amount=payment.amount))


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
