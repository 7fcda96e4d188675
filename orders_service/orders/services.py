"""Every write of the orders service: one transaction each, with the outbox event it causes.

Used by the API, the admin and the event handlers alike, so every path publishes. The
rules say no with the shared domain errors (:mod:`ticketing_shared.errors`), which the
API maps to HTTP once; "is this order the caller's?" is decided here and nowhere else.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from orders import notifications, selectors
from orders.models import Order, Ticket
from ticketing_shared.errors import Conflict, Forbidden, InvalidState, NotFound
from ticketing_shared.events import publish
from ticketing_shared.events.schemas import OrderCancelled, OrderCompleted, OrderCreated, TicketId, TicketPrice
from ticketing_shared.versioning import replica_apply

logger = logging.getLogger(__name__)

TICKET_NOT_FOUND = "Ticket not found"
TICKET_ALREADY_RESERVED = "Ticket is already reserved"
CANNOT_CANCEL_COMPLETE = "Cannot cancel a complete order"
PRICE_CHANGED = "The price changed"
TOO_MANY_OPEN_ORDERS = "Too many open orders"
EVENT_STARTED = "This event has already started"
# The API answered these before the rule moved here; clients may show them, so they stay.
ORDER_NOT_FOUND = "No Order matches the given query."
NOT_YOUR_ORDER = "You do not have permission to perform this action."

ONE_LIVE_ORDER_CONSTRAINT = "orders_one_live_order_per_ticket"


class PaymentMismatch(InvalidState):
    """A payment says it paid an order another amount than the order costs: it never completes it."""


# -- orders ------------------------------------------------------------------------


def order_create(
    *, user_id: str | uuid.UUID, ticket_id: uuid.UUID, expected_total: Decimal | None = None
) -> Order:
    """Reserve ``ticket_id`` for the buyer ``user_id`` for ``ORDER_EXPIRATION_SECONDS``.

    Reservations of one ticket queue up on the row lock of its replica, so deciding
    "is it free?" and inserting the order happen as one step. An order that still
    holds the ticket but is past its ``expires_at`` is cancelled in this same
    transaction (its expiration event may simply be late). The partial unique index
    ``orders_one_live_order_per_ticket`` stays the last word: a violation is the same
    answer as a held ticket, never a 500.

    ``expected_total`` is what the buyer was shown: when it is not what the order would
    cost, nothing is made (``Conflict``), so nobody reserves at a price they did not see.

    A buyer holds at most ``MAX_OPEN_ORDERS_PER_USER`` unpaid orders: one more is
    ``InvalidState`` and nothing is made. One buyer's reservations queue up on a lock of
    their own, so concurrent requests cannot all count the same open orders.
    """
    try:
        with transaction.atomic():
            _lock_buyer(user_id)
            ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
            check_reservable(ticket)
            holder = Order.objects.select_for_update().filter(ticket=ticket, status__in=Order.LIVE).first()
            if holder is not None and not holder.is_expired:
                raise InvalidState(TICKET_ALREADY_RESERVED)
            _check_total(ticket, expected_total)
            _check_open_orders(user_id)
            if holder is not None:
                logger.info("Order %s expired unpaid; ticket %s reserved again", holder.id, ticket.id)
                _cancel(holder, Order.CancelReason.EXPIRED)
            now = timezone.now()
            order = Order.objects.create(
                user_id=user_id,
                ticket=ticket,
                status=Order.Status.CREATED,
                expires_at=now + timedelta(seconds=settings.ORDER_EXPIRATION_SECONDS),
                price=_total(ticket),
                created_at=now,
                updated_at=now,
            )
            publish(OrderCreated(id=order.id, status=order.status, user_id=order.user_id,
                                 expires_at=order.expires_at, version=order.version,
                                 ticket=TicketPrice(id=ticket.id, price=order.price)))
    except IntegrityError as exc:
        if _violated_constraint(exc) == ONE_LIVE_ORDER_CONSTRAINT:
            raise InvalidState(TICKET_ALREADY_RESERVED) from None
        raise
    return order


def check_reservable(ticket: Ticket | None) -> None:
    """Whether a buyer may reserve this replica at all: ``NotFound`` for an unknown or unlisted
    ticket (unlisted is gone, as in the tickets service), ``InvalidState`` for an event that started."""
    if ticket is None or ticket.unlisted:
        raise NotFound(TICKET_NOT_FOUND)
    if ticket.starts_at is not None and ticket.starts_at <= timezone.now():
        raise InvalidState(EVENT_STARTED)


def _lock_buyer(user_id: str | uuid.UUID) -> None:
    """Serialise one buyer's reservations until the transaction ends (a PostgreSQL advisory
    lock on a hash of the id: two buyers sharing a hash merely wait for each other)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"orders.buyer:{user_id}"])


def _check_open_orders(user_id: str | uuid.UUID) -> None:
    """Unpaid orders still in their window count against the buyer's limit; paid, cancelled
    and expired ones do not."""
    open_orders = Order.objects.filter(
        user_id=user_id, status__in=Order.PENDING, expires_at__gt=timezone.now()
    ).count()
    if open_orders >= settings.MAX_OPEN_ORDERS_PER_USER:
        raise InvalidState(TOO_MANY_OPEN_ORDERS)


def _total(ticket: Ticket) -> Decimal:
    """What an order of ``ticket`` costs: one ticket at its replica's price, nothing more today."""
    return ticket.price


def _check_total(ticket: Ticket, expected_total: Decimal | None) -> None:
    """The buyer's ``expected_total``, when given, must be the total we would charge."""
    if expected_total is not None and expected_total != _total(ticket):
        raise Conflict(PRICE_CHANGED, field="expected_total")


def order_get(*, order_id: uuid.UUID, user_id: str | uuid.UUID) -> Order:
    """One order, for its buyer only: ``NotFound`` if there is none, ``Forbidden`` if it is someone else's."""
    order = selectors.order_queryset().filter(pk=order_id).first()
    if order is None:
        raise NotFound(ORDER_NOT_FOUND)
    _check_buyer(order, user_id)
    return order


def order_cancel(*, order_id: uuid.UUID, user_id: str | uuid.UUID | None = None) -> Order:
    """Cancel a pending order: its buyer's (``user_id``, checked; reason ``by_buyer``) or an
    operator's (no ``user_id``; reason ``operator``).

    Cancelling a cancelled order changes nothing and publishes nothing; a complete order
    is sold and cannot be cancelled.
    """
    with transaction.atomic():
        order = _locked_order(order_id)
        if user_id is not None:
            _check_buyer(order, user_id)
        if order.status == Order.Status.COMPLETE:
            raise InvalidState(CANNOT_CANCEL_COMPLETE)
        if order.status != Order.Status.CANCELLED:
            by_buyer = user_id is not None
            _cancel(order, Order.CancelReason.BY_BUYER if by_buyer else Order.CancelReason.OPERATOR)
    return order


def order_expire(*, order_id: uuid.UUID) -> bool:
    """The order's window closed: cancel it unless it was paid or is already cancelled.

    Returns whether anything changed; ``NotFound`` for an order this service never made.
    """
    with transaction.atomic():
        order = _locked_order(order_id)
        if not order.is_pending:
            return False
        _cancel(order, Order.CancelReason.EXPIRED)
    return True


def order_complete(*, order_id: uuid.UUID, amount: Decimal) -> bool:
    """The order was paid ``amount``: it becomes ``complete`` and its ticket is sold.

    A payment that lost the race against a cancellation (the order expired and was
    cancelled, possibly because someone else reserved the ticket) leaves the order
    cancelled and publishes nothing: the payments service refunds it on seeing the
    order cancelled. A payment of another amount than the order's price never
    completes it (``PaymentMismatch``): the order stays unpaid and expires, and its
    cancellation makes the payments service refund that payment.
    Returns whether anything changed; ``NotFound`` for an unknown order.
    """
    with transaction.atomic():
        order = _locked_order(order_id)
        if order.status == Order.Status.COMPLETE:
            return False
        if order.status == Order.Status.CANCELLED:
            logger.warning("Order %s was paid after it was cancelled; it stays cancelled (refunded)", order.id)
            # Say it again (same version, a new event): a payments service that somehow missed
            # the first one would otherwise never refund. Everyone else ignores the repeat.
            publish(OrderCancelled(**_order_ref(order), reason=order.cancel_reason or None))
            return False
        if amount != order.price:
            raise PaymentMismatch(f"paid {amount}, but order {order.id} costs {order.price}: not completed")
        order.change_status(Order.Status.COMPLETE)
        publish(OrderCompleted(**_order_ref(order)))
        notifications.order_paid(order)
    return True


def order_payment_refunded(*, order_id: uuid.UUID) -> bool:
    """The order's payment was given back: an order that is not paid any more is cancelled.

    The payments service refunds on its own only the payment of an order that was
    cancelled first (here): that refund changes nothing, which is what keeps a refund
    and its cancellation from chasing each other. Any other refund is an operator's
    ("Refund through Stripe" in the payments admin): the order, complete or still
    pending (its ``payment.created`` may come after the refund, on another topic), is
    cancelled with reason ``operator``, and ``order.cancelled`` tells the tickets service
    to put the ticket on sale again. Returns whether anything changed.
    """
    with transaction.atomic():
        order = _locked_order(order_id)
        if order.status == Order.Status.CANCELLED:
            return False
        logger.warning("The payment of order %s (%s) was refunded by an operator: order cancelled", order.id,
                       order.status)
        _cancel(order, Order.CancelReason.OPERATOR)
    return True


def _locked_order(order_id: uuid.UUID) -> Order:
    """The order under a row lock, or ``NotFound``."""
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise NotFound(ORDER_NOT_FOUND)
    return order


def _check_buyer(order: Order, user_id: str | uuid.UUID) -> None:
    """The one place that decides whose an order is: only its buyer may see or cancel it."""
    if str(order.user_id) != str(user_id):
        raise Forbidden(NOT_YOUR_ORDER)


def _cancel(order: Order, reason: Order.CancelReason) -> None:
    """Cancel ``order`` (locked by the caller) for ``reason`` and publish ``order.cancelled``."""
    order.cancel(reason)
    publish(OrderCancelled(**_order_ref(order), reason=reason))
    if reason == Order.CancelReason.EXPIRED:
        notifications.order_expired(order)


def _order_ref(order: Order) -> dict[str, Any]:
    """The data of ``order.cancelled`` and ``order.completed``."""
    return {"id": order.id, "version": order.version, "ticket": TicketId(id=order.ticket_id)}


def _violated_constraint(error: IntegrityError) -> str | None:
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


# -- the ticket replica --------------------------------------------------------------


# The replica's release-2 fields; an event that does not carry one leaves it as it was.
REPLICA_DETAILS = ("starts_at", "venue", "city", "category", "description", "unlisted")


def replica_details(**given: Any) -> dict[str, Any]:
    """The replica's values for the event details given (``None`` text becomes empty text)."""
    values = {}
    for name, value in given.items():
        if name not in REPLICA_DETAILS:
            raise TypeError(f"Unknown replica field {name}")
        values[name] = "" if value is None and name not in ("starts_at", "unlisted") else value
    return values


def ticket_replica_create(
    *, ticket_id: uuid.UUID, title: str, price: Decimal, user_id: uuid.UUID, version: int, **details: Any
) -> bool:
    """Insert the replica of a new ticket; False if it is already there (a repeat)."""
    _, created = Ticket.objects.get_or_create(
        pk=ticket_id,
        defaults={"title": title, "price": price, "user_id": user_id, "version": version, **replica_details(**details)},
    )
    return created


def ticket_replica_update(
    *, ticket_id: uuid.UUID, title: str, price: Decimal, version: int, **details: Any
) -> bool:
    """Apply version ``version`` of a ticket only over ``version - 1``, and cancel the unpaid
    orders it shows were made at another price than the seller's.

    False for a stale or repeated version (which says nothing about the price now);
    ``RetryLater`` when it came early (the consumer runner retries it once the versions
    before it are in).
    """
    with transaction.atomic():
        values = {"title": title, "price": price, **replica_details(**details)}
        applied = replica_apply(Ticket, pk=ticket_id, version=version, values=values)
        if applied:
            _cancel_orders_at_another_price(ticket_id=ticket_id, price=price)
    return applied


def _cancel_orders_at_another_price(*, ticket_id: uuid.UUID, price: Decimal) -> int:
    """A buyer never pays another price than the one the seller set.

    An order made from a replica that had not heard of the seller's last edit yet holds
    the old price, which the payments service would charge: once the edit arrives, such
    an unpaid order is cancelled (``price_changed``) in the same transaction, so the
    ticket is freed and payments refuses, or refunds, its payment. Paid orders stay.
    Returns how many were cancelled.
    """
    orders = Order.objects.select_for_update().filter(ticket_id=ticket_id, status__in=Order.PENDING)
    stale = [order for order in orders if order.price != price]
    for order in stale:
        logger.warning("Order %s was made at %s; ticket %s now costs %s: cancelled", order.id, order.price,
                       ticket_id, price)
        _cancel(order, Order.CancelReason.PRICE_CHANGED)
    return len(stale)
