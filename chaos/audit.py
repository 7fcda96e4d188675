"""The auditor: what must be true across the services once every event has settled.

Each service keeps its own copy of what it needs (replicas) and learns about changes
only through events, so a lost, duplicated or misordered event shows up as two
databases that disagree. :func:`read_snapshot` reads every database (and the Stripe
double's charges) into plain records; :func:`audit` checks them and returns one
:class:`Violation` per broken invariant, naming the ids involved. The checks are pure
functions of a :class:`Snapshot`, so they are unit-tested on fabricated states.

:func:`settle` polls until the snapshot passes, or stops changing with nothing left
in flight, or a timeout: violations seen while events are still travelling are not
violations yet.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

# Order statuses of the orders service (and of the payments service's replica).
PENDING_ORDER = ("created", "awaiting_payment")
CANCELLED, COMPLETE = "cancelled", "complete"
# What the tickets service's reservation row says for each order status.
RESERVATION_STATUS = {"created": "active", "awaiting_payment": "active", CANCELLED: "cancelled", COMPLETE: "complete"}
# Final states of an expiration row for each final order status ("fired" is fine for
# both: a deadline can pass before the news of the payment or cancel arrives).
EXPIRATION_STATUSES = {COMPLETE: {"order_completed", "fired"}, CANCELLED: {"order_cancelled", "fired"}}


@dataclass(frozen=True)
class Ticket:
    """A ticket as the tickets service owns it."""

    id: str
    title: str
    price: Decimal
    version: int
    order_id: str | None
    sold: bool


@dataclass(frozen=True)
class Reservation:
    """The tickets service's memory of one order (``tickets_reservation``)."""

    order_id: str
    ticket_id: str
    status: str
    version: int
    # Every ticket of the order as of ``version``; older snapshots: just ``ticket_id``.
    ticket_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class TicketReplica:
    """The orders service's copy of a ticket."""

    id: str
    title: str
    price: Decimal
    version: int


@dataclass(frozen=True)
class Order:
    """An order as the orders service owns it."""

    id: str
    ticket_id: str
    status: str
    version: int
    price: Decimal
    expires_at: datetime
    # Every ticket of the order (a cart holds several); older snapshots: just ``ticket_id``.
    ticket_ids: tuple[str, ...] = ()

    @property
    def all_ticket_ids(self) -> tuple[str, ...]:
        return self.ticket_ids or (self.ticket_id,)


@dataclass(frozen=True)
class OrderReplica:
    """The payments service's copy of an order."""

    id: str
    ticket_id: str
    status: str
    version: int
    price: Decimal


@dataclass(frozen=True)
class Payment:
    id: str
    order_id: str
    stripe_id: str | None
    status: str  # pending, succeeded, refund_pending, refunded
    amount: Decimal


@dataclass(frozen=True)
class Expiration:
    order_id: str
    status: str  # pending, fired, order_cancelled, order_completed


@dataclass(frozen=True)
class Charge:
    """A PaymentIntent on the Stripe double, with whether its charge was refunded."""

    intent_id: str
    order_id: str | None  # from the intent's metadata
    status: str
    amount: Decimal
    refunded: bool


@dataclass(frozen=True)
class DeadLetter:
    service: str
    id: int
    topic: str
    event_type: str
    event_id: str | None
    error: str
    status: str  # pending, replayed, discarded
    applied: bool  # the same event id is in the service's inbox: it was applied after all

    def explanation(self) -> str | None:
        """Why this dead letter needs no operator, or None when it does."""
        if self.status != "pending":
            return f"{self.status} by an operator"
        if self.applied:
            return "the same event was applied later (a redelivery or a republish after a broker restart)"
        return None


@dataclass(frozen=True)
class Snapshot:
    """Everything the auditor reads, keyed by id; ``now`` is the database's clock."""

    now: datetime
    tickets: dict[str, Ticket] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    ticket_replicas: dict[str, TicketReplica] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    order_replicas: dict[str, OrderReplica] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    expirations: dict[str, Expiration] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    outbox_pending: dict[str, int] = field(default_factory=dict)  # service -> unpublished events
    parked: dict[str, int] = field(default_factory=dict)  # service -> parked events (if the table exists)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def in_flight(self) -> list[str]:
        """What is still moving: while any of these is non-empty the state may still change by itself."""
        moving = [f"{n} outbox events in {s}" for s, n in self.outbox_pending.items() if n]
        moving += [f"{n} parked events in {s}" for s, n in self.parked.items() if n]
        pending = [o for o in self.orders.values() if o.status in PENDING_ORDER]
        if pending:
            moving.append(f"{len(pending)} orders awaiting payment")
        unsettled = [p for p in self.payments.values() if p.status in ("pending", "refund_pending")]
        if unsettled:
            moving.append(f"{len(unsettled)} payments not settled")
        scheduled = [e for e in self.expirations.values() if e.status == "pending"]
        if scheduled:
            moving.append(f"{len(scheduled)} expirations scheduled")
        return moving


@dataclass(frozen=True)
class Violation:
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.detail}"


Check = Callable[[Snapshot], Iterator[Violation]]


# -- the invariants --------------------------------------------------------------


def check_ticket_holders(s: Snapshot) -> Iterator[Violation]:
    """Each ticket's holder and sold state in tickets agree with the orders service."""
    orders_by_ticket: dict[str, list[Order]] = defaultdict(list)
    for order in s.orders.values():
        for ticket_id in order.all_ticket_ids:
            orders_by_ticket[ticket_id].append(order)
            if ticket_id not in s.tickets:
                yield Violation("ticket-holder", f"order {order.id} is for ticket {ticket_id}, unknown to tickets")
    for ticket in s.tickets.values():
        orders = orders_by_ticket.get(ticket.id, [])
        complete = [o for o in orders if o.status == COMPLETE]
        holding = [o for o in orders if o.status in PENDING_ORDER and o.expires_at > s.now]
        if len(complete) > 1:
            continue  # reported by check_sold_once
        if complete:
            if ticket.order_id != complete[0].id or not ticket.sold:
                yield Violation("ticket-holder", f"ticket {ticket.id}: orders says sold to {complete[0].id}, tickets "
                                                 f"says {_holder(ticket)}")
        elif ticket.sold:
            yield Violation("ticket-holder", f"ticket {ticket.id}: tickets says sold to {ticket.order_id}, but no "
                                             "order for it is complete")
        elif holding and ticket.order_id != holding[0].id:
            yield Violation("ticket-holder", f"ticket {ticket.id}: orders says held by {holding[0].id}, tickets says "
                                             f"{_holder(ticket)}")
        elif not holding and ticket.order_id is not None:
            holder = s.orders.get(ticket.order_id)
            state = f"is {holder.status}" if holder else "is unknown to orders"
            if holder and ticket.id not in holder.all_ticket_ids:
                state = f"is {holder.status} without it (taken out of the order)"
            elif holder and holder.status in PENDING_ORDER:
                state = "has expired"
            yield Violation("ticket-holder", f"ticket {ticket.id}: tickets says held by order {ticket.order_id}, "
                                             f"which {state}")


def check_sold_once(s: Snapshot) -> Iterator[Violation]:
    """No ticket has two complete orders, nor two charges that stand."""
    complete = Counter(t for o in s.orders.values() if o.status == COMPLETE for t in o.all_ticket_ids)
    for ticket_id, count in complete.items():
        if count > 1:
            ids = sorted(o.id for o in s.orders.values() if ticket_id in o.all_ticket_ids and o.status == COMPLETE)
            yield Violation("sold-twice", f"ticket {ticket_id} has {count} complete orders: {', '.join(ids)}")
    paid: dict[str, list[str]] = defaultdict(list)
    for payment in s.payments.values():
        replica = s.order_replicas.get(payment.order_id)
        if payment.status == "succeeded" and replica:
            order = s.orders.get(payment.order_id)
            for ticket_id in order.all_ticket_ids if order else (replica.ticket_id,):
                paid[ticket_id].append(payment.id)
    for ticket_id, payments in paid.items():
        if len(payments) > 1:
            yield Violation("sold-twice", f"ticket {ticket_id} has {len(payments)} succeeded payments: "
                                          f"{', '.join(sorted(payments))}")


def check_orders_settled(s: Snapshot) -> Iterator[Violation]:
    """Every order past its deadline was paid or cancelled (its expiration fired and was applied)."""
    for order in s.orders.values():
        if order.status in PENDING_ORDER and order.expires_at <= s.now:
            late = (s.now - order.expires_at).total_seconds()
            yield Violation("order-not-expired", f"order {order.id} is still {order.status} {late:.0f} s past its "
                                                 "deadline")


def check_payments(s: Snapshot) -> Iterator[Violation]:
    """No complete order is unpaid; a cancelled order's charge was refunded; nothing is left half done."""
    payment_of = {p.order_id: p for p in s.payments.values()}
    for order in s.orders.values():
        payment = payment_of.get(order.id)
        if order.status == COMPLETE:
            if payment is None or payment.status != "succeeded":
                state = f"its payment {payment.id} is {payment.status}" if payment else "it has no payment"
                yield Violation("complete-unpaid", f"order {order.id} is complete but {state}")
            elif payment.amount != order.price:
                yield Violation("complete-unpaid", f"order {order.id} costs {order.price} but payment {payment.id} "
                                                   f"charged {payment.amount}")
        elif order.status == CANCELLED and payment is not None and payment.status != "refunded":
            yield Violation("charge-kept", f"order {order.id} is cancelled but its payment {payment.id} is "
                                           f"{payment.status}")
    for payment in s.payments.values():
        if payment.order_id not in s.orders:
            yield Violation("charge-kept", f"payment {payment.id} is for order {payment.order_id}, unknown to orders")
        if payment.status == "pending":
            yield Violation("payment-unsettled", f"payment {payment.id} of order {payment.order_id} is still an "
                                                 f"attempt (PaymentIntent {payment.stripe_id})")


def check_charges(s: Snapshot) -> Iterator[Violation]:
    """Every charge that stands at Stripe is a succeeded payment of a complete order, and the other way round."""
    payment_by_intent = {p.stripe_id: p for p in s.payments.values() if p.stripe_id}
    for charge in s.charges.values():
        if charge.status != "succeeded" or charge.refunded:
            continue
        payment = payment_by_intent.get(charge.intent_id)
        order = s.orders.get(payment.order_id) if payment else None
        if payment is None:
            yield Violation("charge-unexplained", f"{charge.intent_id} charged {charge.amount} for order "
                                                  f"{charge.order_id}, was not refunded and no payment records it")
        elif payment.status != "succeeded" or order is None or order.status != COMPLETE:
            order_state = order.status if order else "unknown"
            yield Violation("charge-unexplained", f"{charge.intent_id} charged {charge.amount}, was not refunded, "
                                                  f"but payment {payment.id} is {payment.status} and order "
                                                  f"{payment.order_id} is {order_state}")
    for payment in s.payments.values():
        charge = s.charges.get(payment.stripe_id or "")
        if payment.status == "succeeded" and (charge is None or charge.status != "succeeded" or charge.refunded):
            state = "unknown to Stripe" if charge is None else "refunded" if charge.refunded else charge.status
            yield Violation("charge-unexplained", f"payment {payment.id} says succeeded but {payment.stripe_id} is "
                                                  f"{state}")
        if payment.status == "refunded" and charge is not None and not charge.refunded:
            yield Violation("charge-kept", f"payment {payment.id} says refunded but Stripe has not refunded "
                                           f"{payment.stripe_id}")


def check_ticket_replicas(s: Snapshot) -> Iterator[Violation]:
    """The orders service's copy of each ticket matches the tickets service's (title, price, version)."""
    for ticket in s.tickets.values():
        replica = s.ticket_replicas.get(ticket.id)
        if replica is None:
            yield Violation("replica-ticket", f"ticket {ticket.id} never reached the orders service")
        elif (replica.title, replica.price, replica.version) != (ticket.title, ticket.price, ticket.version):
            yield Violation("replica-ticket", f"ticket {ticket.id}: tickets has v{ticket.version} {ticket.price}, "
                                              f"orders has v{replica.version} {replica.price}"
                                              + ("" if replica.title == ticket.title else " (titles differ)"))
    for ticket_id in s.ticket_replicas.keys() - s.tickets.keys():
        yield Violation("replica-ticket", f"orders has ticket {ticket_id}, unknown to tickets")


def check_order_replicas(s: Snapshot) -> Iterator[Violation]:
    """Payments' copy of each order, tickets' reservation of it and its expiration agree with orders."""
    for order in s.orders.values():
        replica = s.order_replicas.get(order.id)
        if replica is None:
            yield Violation("replica-order", f"order {order.id} ({order.status}) never reached the payments service")
        elif (replica.status, replica.version, replica.price) != (order.status, order.version, order.price):
            yield Violation("replica-order", f"order {order.id}: orders has v{order.version} {order.status}, payments "
                                             f"has v{replica.version} {replica.status}")
        reservation = s.reservations.get(order.id)
        wanted = RESERVATION_STATUS[order.status]
        if reservation is None:
            yield Violation("replica-reservation", f"order {order.id} never reached the tickets service")
        elif (reservation.status, reservation.version) != (wanted, order.version):
            yield Violation("replica-reservation", f"order {order.id}: orders has v{order.version} {order.status}, "
                                                   f"tickets has v{reservation.version} {reservation.status}")
        elif reservation.ticket_ids and set(reservation.ticket_ids) != set(order.all_ticket_ids):
            yield Violation("replica-reservation", f"order {order.id} v{order.version}: orders holds "
                                                   f"{', '.join(sorted(order.all_ticket_ids))}, tickets has "
                                                   f"{', '.join(sorted(reservation.ticket_ids))}")
        yield from _check_expiration(s, order)
    for order_id in s.order_replicas.keys() - s.orders.keys():
        yield Violation("replica-order", f"payments has order {order_id}, unknown to orders")
    for order_id in s.expirations.keys() - s.orders.keys():
        yield Violation("replica-expiration", f"expiration has order {order_id}, unknown to orders")


def _check_expiration(s: Snapshot, order: Order) -> Iterator[Violation]:
    expiration = s.expirations.get(order.id)
    if expiration is None:
        yield Violation("replica-expiration", f"order {order.id} never reached the expiration service")
    elif order.status in EXPIRATION_STATUSES and expiration.status not in EXPIRATION_STATUSES[order.status]:
        yield Violation("replica-expiration", f"order {order.id} is {order.status} but its expiration is "
                                              f"{expiration.status}")


def check_outboxes(s: Snapshot) -> Iterator[Violation]:
    """Every outbox is drained and no early event is still parked."""
    for service, count in s.outbox_pending.items():
        if count:
            yield Violation("outbox", f"{service}: {count} events never published")
    for service, count in s.parked.items():
        if count:
            yield Violation("parked", f"{service}: {count} events still parked waiting for their predecessor")


def check_dead_letters(s: Snapshot) -> Iterator[Violation]:
    """Every dead letter is explained; a pending one nobody can explain needs an operator."""
    for letter in s.dead_letters:
        if letter.explanation() is None:
            yield Violation("dead-letter", f"{letter.service}: {letter.event_type or letter.topic} {letter.event_id} "
                                           f"(dead letter {letter.id}): {letter.error}")


CHECKS: list[Check] = [
    check_ticket_holders,
    check_sold_once,
    check_orders_settled,
    check_payments,
    check_charges,
    check_ticket_replicas,
    check_order_replicas,
    check_outboxes,
    check_dead_letters,
]


def audit(snapshot: Snapshot) -> list[Violation]:
    return [violation for check in CHECKS for violation in check(snapshot)]


def _holder(ticket: Ticket) -> str:
    if ticket.order_id is None:
        return "free"
    return f"{'sold to' if ticket.sold else 'held by'} {ticket.order_id}"


# -- waiting for the stack to settle ---------------------------------------------


@dataclass
class Verdict:
    snapshot: Snapshot
    violations: list[Violation]
    waited: float
    settled: bool  # False: timed out with events still in flight


def settle(read: Callable[[], Snapshot], *, timeout: float, stable_seconds: float = 20.0,
           interval: float = 2.0, say: Callable[[str], None] = print) -> Verdict:
    """Poll ``read`` until its snapshot passes the audit with nothing left in flight, or stops
    changing with nothing in flight for ``stable_seconds`` (what is wrong then stays wrong),
    or ``timeout``. A reservation still inside its window passes, but is in flight: the
    audit waits for its expiry, which it also checks."""
    started = time.monotonic()
    previous: Snapshot | None = None
    unchanged_since = started
    while True:
        snapshot = read()
        violations = audit(snapshot)
        now = time.monotonic()
        if snapshot != previous:
            previous, unchanged_since = snapshot, now
        moving = snapshot.in_flight()
        waited = now - started
        if not moving and (not violations or now - unchanged_since >= stable_seconds):
            return Verdict(snapshot, violations, waited, settled=True)
        if waited >= timeout:
            return Verdict(snapshot, violations, waited, settled=not moving)
        rules = Counter(v.rule for v in violations)
        disagreeing = ", ".join(f"{n} {rule}" for rule, n in rules.most_common()) or "nothing"
        say(f"settling ({waited:.0f} s): {', '.join(moving) or 'nothing in flight'}; not yet agreeing: {disagreeing}")
        time.sleep(interval)
