"""Every write to tickets: one transaction each, with its outbox event inside.

The ticket's ``version`` is ours: every change bumps it with an optimistic
``UPDATE ... WHERE version = <read>`` (:meth:`VersionedModel.save_versioned`), and
every change publishes ``ticket.created`` / ``ticket.updated`` keyed by the ticket id,
so one ticket's events reach the orders service in order.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from ticketing_shared.errors import Conflict, Forbidden, InvalidState
from ticketing_shared.events import publish
from ticketing_shared.events.schemas import TicketCreated, TicketUpdated
from ticketing_shared.versioning import ConcurrentUpdateError
from tickets.models import Reservation, Ticket

logger = logging.getLogger(__name__)

RESERVED_MESSAGE = "Cannot edit a reserved ticket"
UNLIST_RESERVED_MESSAGE = "Cannot unlist a reserved ticket"
UNLIST_SOLD_MESSAGE = "Cannot unlist a sold ticket"
NOT_THE_OWNER_UNLIST = "Only the owner can unlist this ticket."
# What the event of a ticket says besides the release-1 fields (all optional for readers).
EVENT_FIELDS = ("starts_at", "venue", "city", "category", "description")
CHANGED_MESSAGE = "The ticket was changed meanwhile; reload it and try again."
NOT_THE_OWNER = "Only the owner can edit this ticket."


class TicketReserved(InvalidState):
    """The ticket is held by an order (or sold): it cannot be edited."""

    def __init__(self, message: str = RESERVED_MESSAGE) -> None:
        super().__init__(message)


class TicketChanged(Conflict):
    """Somebody changed the ticket since the caller read it."""

    def __init__(self, message: str = CHANGED_MESSAGE) -> None:
        super().__init__(message)


class UnknownTicket(Exception):
    """An order event names a ticket this service never had."""


# ``order.cancelled``'s reason when an operator refunded the order: its sold ticket is freed.
OPERATOR_REFUND = "operator"


def _ticket_fields(ticket: Ticket) -> dict:
    """The data of ``ticket.created``: every field, the event's details included (null when unsaid)."""
    return {"id": ticket.id, "title": ticket.title, "price": ticket.price, "user_id": ticket.user_id,
            "version": ticket.version, **{name: getattr(ticket, name) for name in EVENT_FIELDS}}


def _publish_updated(ticket: Ticket) -> None:
    publish(TicketUpdated(**_ticket_fields(ticket), order_id=ticket.order_id, owner_id=ticket.owner_id,
                          unlisted=ticket.unlisted_at is not None))


def ticket_create(*, user_id: str | uuid.UUID, title: str, price: Decimal, **details) -> Ticket:
    """List a ticket; ``details`` are the optional event fields (``starts_at``, ``venue``, ...)."""
    unknown = set(details) - set(EVENT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown ticket fields: {sorted(unknown)}")
    with transaction.atomic():
        ticket = Ticket.objects.create(user_id=user_id, title=title, price=price, **details)
        publish(TicketCreated(**_ticket_fields(ticket)))
    return ticket


def ticket_update(
    *, ticket: Ticket, title: str, price: Decimal, by_user: str | uuid.UUID | None = None, **details
) -> Ticket:
    """Change title, price and any of the event's ``details`` given of ``ticket`` as read by the caller.

    The write succeeds only over the version the caller read: an edit or reservation
    committed between that read and this write makes it fail with :class:`TicketChanged`
    or :class:`TicketReserved`, never a lost update.
    """
    unknown = set(details) - set(EVENT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown ticket fields: {sorted(unknown)}")
    if by_user is not None and str(ticket.user_id) != str(by_user):
        raise Forbidden(NOT_THE_OWNER)
    if ticket.is_reserved:
        raise TicketReserved
    with transaction.atomic():
        ticket.title, ticket.price, ticket.updated_at = title, price, timezone.now()
        for name, value in details.items():
            setattr(ticket, name, value)
        try:
            ticket.save_versioned(update_fields=["title", "price", "updated_at", *details])
        except ConcurrentUpdateError:
            now_reserved = Ticket.objects.filter(pk=ticket.pk, order_id__isnull=False).exists()
            raise (TicketReserved if now_reserved else TicketChanged) from None
        _publish_updated(ticket)
    return ticket


def ticket_unlist(*, ticket: Ticket, by_user: str | uuid.UUID | None = None) -> Ticket:
    """Take a free ticket off sale for good: it leaves every list, answers 404, and
    ``ticket.updated`` (``unlisted: true``) tells the orders service it cannot be reserved.

    A reserved or sold ticket stays (its buyer holds it). The write is over the version
    read, so a reservation that lands meanwhile wins and the unlisting is refused.
    """
    if by_user is not None and str(ticket.user_id) != str(by_user):
        raise Forbidden(NOT_THE_OWNER_UNLIST)
    if ticket.sold_at is not None:
        raise InvalidState(UNLIST_SOLD_MESSAGE)
    if ticket.order_id is not None:
        raise InvalidState(UNLIST_RESERVED_MESSAGE)
    with transaction.atomic():
        ticket.unlisted_at = ticket.updated_at = timezone.now()
        try:
            ticket.save_versioned(update_fields=["unlisted_at", "updated_at"])
        except ConcurrentUpdateError:
            now = Ticket.objects.filter(pk=ticket.pk).first()
            if now is not None and now.order_id is not None:
                raise InvalidState(UNLIST_SOLD_MESSAGE if now.sold_at else UNLIST_RESERVED_MESSAGE) from None
            raise TicketChanged from None
        _publish_updated(ticket)
    return ticket


def _set_hold(
    ticket: Ticket, *, order_id: uuid.UUID | None, sold: bool = False, owner_id: uuid.UUID | None = None
) -> None:
    """Write who holds ``ticket`` (locked by the caller) and publish the change; a sold
    ticket is its buyer's (``owner_id``); a freed ticket is on sale again, even one that was
    sold (an operator refunded its order), and nobody's.

    An unlisted ticket can still be sold: the orders service reserved it before it heard
    of the unlisting, and the buyer paid before it did (an unpaid order it cancels). The
    sale stands, and the ticket stays unlisted: a refund never puts it on sale again."""
    ticket.order_id = order_id
    ticket.updated_at = timezone.now()
    if sold:
        ticket.sold_at = ticket.updated_at
        ticket.owner_id = owner_id
        if ticket.unlisted_at is not None:
            logger.warning("Ticket %s, unlisted, was paid for by order %s before the orders service heard of "
                           "the unlisting: the sale stands", ticket.pk, order_id)
    elif order_id is None:
        ticket.sold_at = None
        ticket.owner_id = None
    ticket.save_versioned(update_fields=["order_id", "sold_at", "owner_id", "updated_at"])
    _publish_updated(ticket)


def _locked_ticket(ticket_id: uuid.UUID) -> Ticket | None:
    """The ticket under a row lock: order events of one ticket apply one at a time."""
    return Ticket.objects.select_for_update().filter(pk=ticket_id).first()


def _record(
    *,
    order_id: uuid.UUID,
    status: str,
    version: int,
    ticket_ids: list[uuid.UUID],
    first: Ticket,
    expires_at: dt.datetime | None = None,
    user_id: uuid.UUID | None = None,
) -> tuple[Reservation, Reservation | None]:
    """Remember the order's state as of ``version`` (locked until the transaction ends);
    an older version changes only what it alone knows. Returns the row and a copy of it
    as it was before (None for a new one)."""
    reservation = Reservation.objects.select_for_update().filter(pk=order_id).first()
    ids = [str(t) for t in ticket_ids]
    if reservation is None:
        reservation = Reservation.objects.create(
            order_id=order_id, ticket=first, status=status, version=version, expires_at=expires_at,
            ticket_ids=ids, user_id=user_id,
        )
        return reservation, None
    before = Reservation(order_id=reservation.order_id, ticket_id=reservation.ticket_id, status=reservation.status,
                         version=reservation.version, ticket_ids=list(reservation.ticket_ids))
    if expires_at is not None and reservation.expires_at is None:
        reservation.expires_at = expires_at
    if user_id is not None and reservation.user_id is None:
        reservation.user_id = user_id
    if version > reservation.version:
        reservation.status, reservation.version, reservation.ticket_ids = status, version, ids
        reservation.ticket = first
    reservation.save()
    return reservation, before


def _lock_order(order_id: uuid.UUID) -> None:
    """Serialise the events of one order until the transaction ends (a PostgreSQL advisory
    lock on a hash of its id, taken before any ticket row: two orders sharing a hash merely
    wait for each other), so even its first two events cannot both insert its row."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"tickets.order:{order_id}"])


def order_apply(
    *,
    order_id: uuid.UUID,
    order_version: int,
    status: str,
    ticket_ids: list[uuid.UUID],
    expires_at: dt.datetime | None = None,
    reason: str | None = None,
    user_id: uuid.UUID | None = None,
) -> list[Ticket]:
    """Apply one order event: make every ticket the order ever named agree with the newest
    state we know of the order (its status and tickets as of its highest version).

    The events of one order come on four topics, so in any order; those of different
    orders for one ticket too. Per ticket, the rules of :func:`ticket_reserve`,
    :func:`ticket_release` and :func:`ticket_sell` hold; a ticket the order no longer
    lists (the buyer took it out of the cart) is freed if this order holds it and it is
    not sold. The order's row is locked first, then its tickets in id order, so two
    events never wait for each other in a circle.
    """
    with transaction.atomic():
        _lock_order(order_id)
        known = {t.pk: t for t in Ticket.objects.filter(pk__in=ticket_ids)}
        missing = [t for t in ticket_ids if t not in known]
        if missing:
            raise UnknownTicket(", ".join(str(t) for t in missing))
        reservation, before = _record(
            order_id=order_id, status=status, version=order_version, ticket_ids=ticket_ids,
            first=known[ticket_ids[0]], expires_at=expires_at, user_id=user_id,
        )
        named = {str(t) for t in ticket_ids} | set(reservation.ticket_ids) | set(before.ticket_ids if before else [])
        listed = set(reservation.ticket_ids)
        refund = status == Reservation.Status.CANCELLED and _refunds_the_sale(
            before, reason=reason, version=order_version)
        tickets = list(Ticket.objects.select_for_update().filter(pk__in=sorted(named)).order_by("pk"))
        for ticket in tickets:
            if str(ticket.pk) not in listed:
                if ticket.order_id == order_id and ticket.sold_at is None:
                    _set_hold(ticket, order_id=None)
            elif reservation.status == Reservation.Status.ACTIVE:
                _hold(ticket, reservation)
            elif reservation.status == Reservation.Status.COMPLETE:
                _sell(ticket, reservation)
            elif ticket.order_id == order_id and (ticket.sold_at is None or refund):
                _set_hold(ticket, order_id=None)
    by_id = {str(t.pk): t for t in tickets}
    return [by_id[str(t)] for t in ticket_ids]


def _hold(ticket: Ticket, reservation: Reservation) -> None:
    """The live order holds the ticket, unless it lost already: the ticket is sold, or a
    newer order (one expiring later) holds it: the orders service only makes a new order
    for a ticket after ending the previous one."""
    order_id = reservation.order_id
    if ticket.sold_at or ticket.order_id == order_id:
        return
    if ticket.order_id is not None:
        holder = Reservation.objects.filter(pk=ticket.order_id).first()
        if (holder is not None and holder.expires_at is not None and reservation.expires_at is not None
                and holder.expires_at >= reservation.expires_at):
            logger.info("Order %s for ticket %s is older than its holder %s", order_id, ticket.pk, holder.pk)
            return
    _set_hold(ticket, order_id=order_id)


def _sell(ticket: Ticket, reservation: Reservation) -> None:
    """The orders service completes at most one order per ticket, so the completed order
    takes the ticket even from a holder whose cancel has not arrived yet; its buyer owns it."""
    if ticket.sold_at is not None:
        if ticket.order_id != reservation.order_id:
            logger.error("Ticket %s sold to order %s; order %s completed too", ticket.pk, ticket.order_id,
                         reservation.order_id)
        return
    _set_hold(ticket, order_id=reservation.order_id, sold=True, owner_id=reservation.user_id)


def ticket_reserve(
    *, ticket_id: uuid.UUID, order_id: uuid.UUID, order_version: int, expires_at: dt.datetime,
    ticket_ids: list[uuid.UUID] | None = None, user_id: uuid.UUID | None = None,
) -> Ticket:
    """``order.created`` (and ``order.updated``): the order holds its tickets, unless it lost already.

    It has lost when it was cancelled (its cancel arrived first), when the ticket is
    sold, or when a newer order (one expiring later) holds the ticket.
    """
    return order_apply(order_id=order_id, order_version=order_version, status=Reservation.Status.ACTIVE,
                       ticket_ids=ticket_ids or [ticket_id], expires_at=expires_at, user_id=user_id)[0]


def ticket_release(
    *, ticket_id: uuid.UUID, order_id: uuid.UUID, order_version: int, reason: str | None = None,
    ticket_ids: list[uuid.UUID] | None = None,
) -> Ticket:
    """``order.cancelled``: free the tickets, only those that very order holds.

    A sold ticket stays sold, except for the cancel of an operator's refund (``reason``
    ``operator``) of the very order it was sold to, newer than that sale: the buyer got
    the money back, so the seller's ticket is on sale again. Any other cancel, a stale
    one, or one of another order, leaves a sold ticket alone.
    """
    return order_apply(order_id=order_id, order_version=order_version, status=Reservation.Status.CANCELLED,
                       ticket_ids=ticket_ids or [ticket_id], reason=reason)[0]


def _refunds_the_sale(sale: Reservation | None, *, reason: str | None, version: int) -> bool:
    """Whether a cancel undoes the sale to its order: an operator's, and newer than the completion we applied."""
    return (
        reason == OPERATOR_REFUND
        and sale is not None
        and sale.status == Reservation.Status.COMPLETE
        and version > sale.version
    )


def ticket_sell(
    *, ticket_id: uuid.UUID, order_id: uuid.UUID, order_version: int, ticket_ids: list[uuid.UUID] | None = None,
    user_id: uuid.UUID | None = None,
) -> Ticket:
    """``order.completed``: the order paid; its tickets are its buyer's, unless an operator refunds it.

    A completion overtaken by a newer cancel of the same order (an operator refunded it;
    the events come on different topics) sells nothing.
    """
    return order_apply(order_id=order_id, order_version=order_version, status=Reservation.Status.COMPLETE,
                       ticket_ids=ticket_ids or [ticket_id], user_id=user_id)[0]
