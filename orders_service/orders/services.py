"""Every write of the orders service: one transaction each, with the outbox event it causes.

Used by the API, the admin and the event handlers alike, so every path publishes. The
rules say no with the shared domain errors (:mod:`ticketing_shared.errors`), which the
API maps to HTTP once; "is this order the caller's?" is decided here and nowhere else.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from orders import notifications, selectors
from orders.models import Order, OrderItem, Ticket
from ticketing_shared import transactions
from ticketing_shared.errors import Conflict, Forbidden, InvalidState, NotFound
from ticketing_shared.events import publish
from ticketing_shared.events.schemas import (
    OrderCancelled,
    OrderCompleted,
    OrderCreated,
    OrderUpdated,
    TicketId,
    TicketPrice,
)
from ticketing_shared.transactions import retrying
from ticketing_shared.versioning import replica_apply

logger = logging.getLogger(__name__)
T = TypeVar("T")

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


MAX_TICKETS_PER_ORDER = 10
ORDER_NOT_OPEN = "Tickets can only be added to or removed from an unpaid order in its window"
TICKET_NOT_IN_ORDER = "This ticket is not in the order"
TICKET_ALREADY_IN_ORDER = "This ticket is already in the order"
TOO_MANY_TICKETS = f"An order holds at most {MAX_TICKETS_PER_ORDER} tickets"

class TicketsUnavailable(InvalidState):
    """Some tickets of a set cannot be reserved: nothing was. Names each one."""

    def __init__(
        self, *, taken: list[uuid.UUID], unknown: list[uuid.UUID], started: list[uuid.UUID] | None = None
    ) -> None:
        started = started or []
        parts = []
        if taken:
            parts.append("already reserved: " + ", ".join(str(t) for t in taken))
        if unknown:
            parts.append("not found: " + ", ".join(str(t) for t in unknown))
        if started:
            parts.append("event already started: " + ", ".join(str(t) for t in started))
        super().__init__("Tickets cannot be reserved (" + "; ".join(parts) + ")", field="ticket_ids")
        self.taken, self.unknown, self.started = taken, unknown, started


def order_create(
    *,
    user_id: str | uuid.UUID,
    ticket_id: uuid.UUID | None = None,
    ticket_ids: list[uuid.UUID] | None = None,
    expected_total: Decimal | None = None,
) -> Order:
    """Reserve one ticket (``ticket_id``) or a set (``ticket_ids``) for the buyer ``user_id``
    for ``ORDER_EXPIRATION_SECONDS``: all of them in one order, or none.

    Reservations queue up on the row locks of the tickets' replicas, taken in the order of
    their ids so that two buyers reaching for overlapping sets never wait for each other
    in a circle; deciding "are they free?" and inserting the order happen as one step.
    An order that still holds one of the tickets but is past its ``expires_at`` is
    cancelled in this same transaction (its expiration event may simply be late). The
    partial unique index ``orders_one_live_order_per_ticket`` stays the last word: a
    violation is the same answer as a held ticket, never a 500.

    One ticket answers as it always did (``NotFound``, ``Ticket is already reserved``);
    a set answers :class:`TicketsUnavailable` naming every ticket that is taken or unknown.

    ``expected_total`` is what the buyer was shown: when it is not what the order would
    cost, nothing is made (``Conflict``), so nobody reserves at a price they did not see.

    A buyer holds at most ``MAX_OPEN_ORDERS_PER_USER`` unpaid orders: one more is
    ``InvalidState`` and nothing is made. One buyer's reservations queue up on a lock of
    their own, so concurrent requests cannot all count the same open orders.
    """
    single = ticket_ids is None
    ids = [ticket_id] if single else list(dict.fromkeys(ticket_ids))

    def reserve() -> Order:
        # Inside the API's idempotency transaction this joins it without a savepoint, and a
        # deadlock there runs that whole transaction again (ticketing_shared.transactions).
        with transactions.atomic():
            _refuse_held_at_once(ids, single=single)
            _lock_buyer(user_id)
            tickets, holders = _lock_free_tickets(ids, single=single)
            _check_total(sum((t.price for t in tickets), Decimal("0")), expected_total)
            _check_open_orders(user_id)
            for holder in holders:
                logger.info("Order %s expired unpaid; its tickets are reserved again", holder.id)
                _cancel(holder, Order.CancelReason.EXPIRED)
            now = timezone.now()
            order = Order.objects.create(
                user_id=user_id,
                ticket=tickets[0],
                status=Order.Status.CREATED,
                expires_at=now + timedelta(seconds=settings.ORDER_EXPIRATION_SECONDS),
                price=sum((t.price for t in tickets), Decimal("0")),
                created_at=now,
                updated_at=now,
            )
            items = OrderItem.objects.bulk_create(
                [OrderItem(order=order, ticket=t, price=t.price, added_at=now) for t in tickets]
            )
            order.know_items(items)  # the answer and the event need no query to read them back
            publish(OrderCreated(id=order.id, status=order.status, user_id=order.user_id,
                                 expires_at=order.expires_at, version=order.version,
                                 ticket=TicketPrice(id=order.ticket_id, price=items[0].price),
                                 tickets=_ticket_prices(items), total=order.price))
            return order

    return _reserving(reserve, single=single, ids=ids)


def _reserving(work: Callable[[], T], *, single: bool, ids: list[uuid.UUID]) -> T:
    """``work`` with retries, a unique-index violation read as "already reserved"."""
    try:
        return retrying(work)
    except IntegrityError as exc:
        if _violated_constraint(exc) == ONE_LIVE_ORDER_CONSTRAINT:
            if single:
                raise InvalidState(TICKET_ALREADY_RESERVED) from None
            raise TicketsUnavailable(taken=ids, unknown=[]) from None
        raise


def _refuse_held_at_once(ids: list[uuid.UUID], *, single: bool) -> None:
    """Refuse, without waiting on any lock, a reservation of tickets that an order holds
    right now (paid, or unpaid within its window): the same answer the locked path would
    give. In a flash sale most attempts are for a ticket someone just took; they are told
    so in two reads instead of queueing on the winner's row locks. Nothing held: the
    locked path decides (a holder may also have expired meanwhile, which only it handles)."""
    now = timezone.now()
    held = set(
        OrderItem.objects.filter(ticket_id__in=ids, live=True)
        .filter(Q(order__status=Order.Status.COMPLETE) | Q(order__expires_at__gt=now))
        .order_by()
        .values_list("ticket_id", flat=True)
    )
    if held:
        _refuse({t.id: t for t in Ticket.objects.filter(pk__in=ids)}, ids, taken=held, single=single)


def _lock_free_tickets(ids: list[uuid.UUID], *, single: bool) -> tuple[list[Ticket], list[Order]]:
    """Lock the replicas of ``ids`` (in id order) and the orders holding them; return the
    tickets in the caller's order and the expired holders to cancel. Any taken or unknown
    ticket refuses the whole set."""
    locked = {t.id: t for t in Ticket.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    holding = {
        item.ticket_id: item.order
        for item in OrderItem.objects.select_related("order").filter(ticket_id__in=list(locked), live=True)
    }
    holders: dict[uuid.UUID, Order] = {}
    for order_id in sorted({o.id for o in holding.values()}):
        holders[order_id] = Order.objects.select_for_update().get(pk=order_id)
    taken = {i for i in ids if i in holding and not holders[holding[i].id].is_expired}
    _refuse(locked, ids, taken=taken, single=single)
    # None is taken, so every holder is an unpaid order past its window.
    return [locked[i] for i in ids], list(holders.values())


def _refuse(tickets: dict[uuid.UUID, Ticket], ids: list[uuid.UUID], *, taken: set[uuid.UUID], single: bool) -> None:
    """Raise the answer for ``ids`` when any is unknown (or unlisted), started or ``taken``:
    for one ticket the first reason, for a set every ticket named by reason."""
    unknown = [i for i in ids if i not in tickets or tickets[i].unlisted]
    started = [i for i in ids if i not in unknown and tickets[i].has_started]
    taken_ids = [i for i in ids if i in taken]
    if single and unknown:
        raise NotFound(TICKET_NOT_FOUND)
    if single and started:
        raise InvalidState(EVENT_STARTED)
    if single and taken_ids:
        raise InvalidState(TICKET_ALREADY_RESERVED)
    if unknown or started or taken_ids:
        raise TicketsUnavailable(taken=taken_ids, unknown=unknown, started=started)


def order_add_ticket(*, order_id: uuid.UUID, user_id: str | uuid.UUID, ticket_id: uuid.UUID) -> Order:
    """Reserve one more ticket into the buyer's unpaid order (their cart), at once and
    until the order's own ``expires_at``. Locks in the same order as :func:`order_create`
    (buyer, tickets, orders), so the two never deadlock each other."""

    def add() -> Order:
        with transactions.atomic():
            _lock_buyer(user_id)
            current = Order.objects.filter(pk=order_id).first()
            if current is None:
                raise NotFound(ORDER_NOT_FOUND)
            _check_buyer(current, user_id)
            tickets, holders = _lock_free_tickets_for(order_id, ticket_id)
            order = _locked_order(order_id)
            _check_open(order)
            if order.items.count() >= MAX_TICKETS_PER_ORDER:
                raise InvalidState(TOO_MANY_TICKETS, field="ticket_id")
            for holder in holders:
                logger.info("Order %s expired unpaid; its tickets are reserved again", holder.id)
                _cancel(holder, Order.CancelReason.EXPIRED)
            [ticket] = tickets
            OrderItem.objects.create(order=order, ticket=ticket, price=ticket.price)
            order.price += ticket.price
            order.touch()
            _publish_updated(order)
            return order

    return _reserving(add, single=True, ids=[ticket_id])


def _lock_free_tickets_for(order_id: uuid.UUID, ticket_id: uuid.UUID) -> tuple[list[Ticket], list[Order]]:
    """:func:`_lock_free_tickets` for one ticket to add to ``order_id``."""
    if OrderItem.objects.filter(order_id=order_id, ticket_id=ticket_id).exists():
        raise InvalidState(TICKET_ALREADY_IN_ORDER, field="ticket_id")
    return _lock_free_tickets([ticket_id], single=True)


def order_remove_ticket(*, order_id: uuid.UUID, user_id: str | uuid.UUID, ticket_id: uuid.UUID) -> Order:
    """Take one ticket out of the buyer's unpaid order; it is free again at once. An order
    left without tickets is cancelled (``by_buyer``) instead, which frees that last one."""
    with transaction.atomic():
        order = _locked_order(order_id)
        _check_buyer(order, user_id)
        item = order.items.filter(ticket_id=ticket_id).first()
        if item is None:
            raise NotFound(TICKET_NOT_IN_ORDER)
        _check_open(order)
        if order.items.count() == 1:
            _cancel(order, Order.CancelReason.BY_BUYER)
            return order
        item.delete()
        remaining = order.ticket_items()
        order.ticket = remaining[0].ticket
        order.price = sum((i.price for i in remaining), Decimal("0"))
        order.touch()
        _publish_updated(order)
    return order


def _check_open(order: Order) -> None:
    """Only an order still in its window and not yet being paid takes or gives back tickets."""
    if order.status != Order.Status.CREATED or order.is_expired:
        raise InvalidState(ORDER_NOT_OPEN)


def _ticket_prices(items: list[OrderItem]) -> list[TicketPrice]:
    return [TicketPrice(id=item.ticket_id, price=item.price) for item in items]


def _publish_updated(order: Order) -> None:
    items = order.ticket_items()
    publish(OrderUpdated(id=order.id, status=order.status, user_id=order.user_id, expires_at=order.expires_at,
                         version=order.version, ticket=TicketPrice(id=order.ticket_id, price=items[0].price),
                         tickets=_ticket_prices(items), total=order.price))


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


def _check_total(total: Decimal, expected_total: Decimal | None) -> None:
    """The buyer's ``expected_total``, when given, must be the total we would charge."""
    if expected_total is not None and expected_total != total:
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
    """The data of ``order.cancelled`` and ``order.completed``: every ticket it holds (held)."""
    tickets = [TicketId(id=item.ticket_id) for item in order.ticket_items()] or [TicketId(id=order.ticket_id)]
    return {"id": order.id, "version": order.version, "ticket": TicketId(id=order.ticket_id), "tickets": tickets,
            "user_id": order.user_id}


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
    orders it shows were made at another price than the seller's, or for a ticket its
    seller has taken off sale.

    False for a stale or repeated version (which says nothing about the price now);
    ``RetryLater`` when it came early (the consumer runner retries it once the versions
    before it are in).
    """
    with transaction.atomic():
        values = {"title": title, "price": price, **replica_details(**details)}
        applied = replica_apply(Ticket, pk=ticket_id, version=version, values=values)
        if applied and details.get("unlisted"):
            _cancel_orders_holding_an_unlisted_ticket(ticket_id=ticket_id)
        elif applied:
            _cancel_orders_at_another_price(ticket_id=ticket_id, price=price)
    return applied


def _pending_orders_holding(ticket_id: uuid.UUID, *, unless_price: Decimal | None = None) -> list[Order]:
    """The unpaid orders holding ``ticket_id`` (all, or those at another price than
    ``unless_price``), locked in primary-key order."""
    items = OrderItem.objects.filter(ticket_id=ticket_id, live=True, order__status__in=Order.PENDING)
    ids = sorted({item.order_id for item in items if unless_price is None or item.price != unless_price})
    return list(Order.objects.select_for_update().filter(pk__in=ids, status__in=Order.PENDING).order_by("pk"))


def _cancel_orders_holding_an_unlisted_ticket(*, ticket_id: uuid.UUID) -> int:
    """Nobody buys a ticket its seller took off sale.

    The tickets service refuses to unlist a ticket it knows is held, but an order made
    here a moment before the unlisting (its ``order.created`` still on the way) holds it
    all the same: once the unlisting arrives, such an unpaid order is cancelled in the same
    transaction, and payments refuses, or refunds, its payment. Its reason is
    ``price_changed``, the API's one reason for an order made from a ticket its seller had
    just changed (the orders service had not heard yet), whatever the change.
    A paid order stays: its sale came first, and the tickets service hands the ticket to
    its buyer (it stays unlisted). Returns how many were cancelled.
    """
    orders = _pending_orders_holding(ticket_id)
    for order in orders:
        logger.warning("Order %s holds ticket %s, which its seller unlisted: cancelled", order.id, ticket_id)
        _cancel(order, Order.CancelReason.PRICE_CHANGED)
    return len(orders)


def _cancel_orders_at_another_price(*, ticket_id: uuid.UUID, price: Decimal) -> int:
    """A buyer never pays another price than the one the seller set.

    An order made from a replica that had not heard of the seller's last edit yet holds
    the old price, which the payments service would charge: once the edit arrives, such
    an unpaid order is cancelled (``price_changed``) in the same transaction, so the
    ticket is freed and payments refuses, or refunds, its payment. Paid orders stay.
    Returns how many were cancelled.
    """
    stale = _pending_orders_holding(ticket_id, unless_price=price)
    for order in stale:
        logger.warning("Order %s holds ticket %s at an old price; it now costs %s: cancelled", order.id,
                       ticket_id, price)
        _cancel(order, Order.CancelReason.PRICE_CHANGED)
    return len(stale)
