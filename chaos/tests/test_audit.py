"""The auditor on fabricated states: a consistent marketplace passes, each kind of damage is named."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chaos.audit import (
    Charge,
    DeadLetter,
    Expiration,
    Order,
    OrderReplica,
    Payment,
    Reservation,
    Snapshot,
    Ticket,
    TicketReplica,
    audit,
    settle,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PRICE = Decimal("30.00")


def _order(order_id: str, ticket_id: str, status: str, version: int, *, expires_in: float = -60) -> Order:
    return Order(order_id, ticket_id, status, version, PRICE, NOW + timedelta(seconds=expires_in))


def consistent(*, held: bool = True) -> Snapshot:
    """Tickets after a quiet afternoon: one sold, one whose reservation expired, one whose late
    payment was refunded after the expiry and (``held``) one held right now."""
    tickets = [
        Ticket("t-sold", "Gig", PRICE, 2, "o-paid", sold=True),
        Ticket("t-expired", "Gig", PRICE, 2, None, sold=False),
        Ticket("t-refunded", "Gig", PRICE, 2, None, sold=False),
    ]
    orders = [
        _order("o-paid", "t-sold", "complete", 1),
        _order("o-expired", "t-expired", "cancelled", 1),
        _order("o-late", "t-refunded", "cancelled", 1),
    ]
    if held:
        tickets.append(Ticket("t-held", "Gig", PRICE, 1, "o-live", sold=False))
        orders.append(_order("o-live", "t-held", "created", 0, expires_in=5))
    payments = [
        Payment("p-paid", "o-paid", "pi_paid", "succeeded", PRICE),
        Payment("p-late", "o-late", "pi_late", "refunded", PRICE),
    ]
    charges = [
        Charge("pi_paid", "o-paid", "succeeded", PRICE, refunded=False),
        Charge("pi_late", "o-late", "succeeded", PRICE, refunded=True),
        Charge("pi_declined", "o-expired", "requires_payment_method", PRICE, refunded=False),
    ]
    status_of = {"complete": "complete", "cancelled": "cancelled", "created": "active"}
    expiration_of = {"o-paid": "order_completed", "o-expired": "fired", "o-late": "fired", "o-live": "pending"}
    return Snapshot(
        now=NOW,
        tickets={t.id: t for t in tickets},
        reservations={o.id: Reservation(o.id, o.ticket_id, status_of[o.status], o.version) for o in orders},
        ticket_replicas={t.id: TicketReplica(t.id, t.title, t.price, t.version) for t in tickets},
        orders={o.id: o for o in orders},
        order_replicas={o.id: OrderReplica(o.id, o.ticket_id, o.status, o.version, o.price) for o in orders},
        payments={p.id: p for p in payments},
        expirations={o.id: Expiration(o.id, expiration_of[o.id]) for o in orders},
        charges={c.intent_id: c for c in charges},
        outbox_pending={"tickets": 0, "orders": 0, "payments": 0, "expiration": 0},
        parked={"orders": 0},
    )


def with_ticket(s: Snapshot, ticket_id: str, **changes) -> Snapshot:
    return replace(s, tickets={**s.tickets, ticket_id: replace(s.tickets[ticket_id], **changes)})


def with_order(s: Snapshot, order_id: str, **changes) -> Snapshot:
    return replace(s, orders={**s.orders, order_id: replace(s.orders[order_id], **changes)})


def rules(s: Snapshot) -> list[str]:
    return sorted({violation.rule for violation in audit(s)})


def test_a_consistent_marketplace_passes():
    assert audit(consistent()) == []


def test_a_ticket_sold_in_tickets_whose_order_was_cancelled():
    s = with_ticket(consistent(), "t-expired", order_id="o-expired", sold=True)
    violations = audit(s)
    assert [v.rule for v in violations] == ["ticket-holder"]
    assert "t-expired" in violations[0].detail
    assert "o-expired" in violations[0].detail


def test_a_ticket_still_held_by_an_order_that_expired():
    s = with_ticket(consistent(), "t-expired", order_id="o-expired")
    assert rules(s) == ["ticket-holder"]


def test_a_paid_order_whose_ticket_tickets_thinks_is_free():
    s = with_ticket(consistent(), "t-sold", order_id=None, sold=False)
    assert "ticket-holder" in rules(s)


def test_a_ticket_with_two_complete_orders_is_sold_twice():
    s = consistent()
    second = _order("o-second", "t-sold", "complete", 1)
    s = replace(
        s,
        orders={**s.orders, second.id: second},
        order_replicas={**s.order_replicas, second.id: OrderReplica(second.id, "t-sold", "complete", 1, PRICE)},
        reservations={**s.reservations, second.id: Reservation(second.id, "t-sold", "complete", 1)},
        expirations={**s.expirations, second.id: Expiration(second.id, "order_completed")},
        payments={**s.payments, "p-second": Payment("p-second", second.id, "pi_second", "succeeded", PRICE)},
        charges={**s.charges, "pi_second": Charge("pi_second", second.id, "succeeded", PRICE, refunded=False)},
    )
    violations = [v for v in audit(s) if v.rule == "sold-twice"]
    assert len(violations) == 2  # two complete orders, two charges that stand
    assert "o-paid" in violations[0].detail
    assert "o-second" in violations[0].detail


def test_a_complete_order_without_a_payment_is_unpaid():
    s = consistent()
    s = replace(s, payments={k: p for k, p in s.payments.items() if k != "p-paid"})
    assert "complete-unpaid" in rules(s)


def test_a_charge_nobody_recorded_and_nobody_refunded():
    s = consistent()
    stray = Charge("pi_stray", "o-expired", "succeeded", PRICE, refunded=False)
    s = replace(s, charges={**s.charges, stray.intent_id: stray})
    violations = audit(s)
    assert [v.rule for v in violations] == ["charge-unexplained"]
    assert "pi_stray" in violations[0].detail


def test_a_refunded_stray_charge_is_fine():
    s = consistent()
    stray = Charge("pi_second_charge", "o-paid", "succeeded", PRICE, refunded=True)
    assert audit(replace(s, charges={**s.charges, stray.intent_id: stray})) == []


def test_a_cancelled_order_whose_charge_was_kept():
    s = consistent()
    s = replace(s, payments={**s.payments, "p-late": replace(s.payments["p-late"], status="refund_pending")},
                charges={**s.charges, "pi_late": replace(s.charges["pi_late"], refunded=False)})
    assert rules(s) == ["charge-kept", "charge-unexplained"]


def test_a_payment_that_says_succeeded_for_a_charge_stripe_refunded():
    s = consistent()
    s = replace(s, charges={**s.charges, "pi_paid": replace(s.charges["pi_paid"], refunded=True)})
    assert rules(s) == ["charge-unexplained"]


def test_an_order_left_pending_past_its_deadline():
    s = with_order(consistent(), "o-live", expires_at=NOW - timedelta(seconds=30))
    assert "order-not-expired" in rules(s)


def test_a_stale_ticket_replica():
    s = consistent()
    s = replace(s, ticket_replicas={**s.ticket_replicas, "t-held": replace(s.ticket_replicas["t-held"], version=0,
                                                                            price=Decimal("25.00"))})
    violations = audit(s)
    assert [v.rule for v in violations] == ["replica-ticket"]
    assert "v1" in violations[0].detail
    assert "v0" in violations[0].detail


def test_an_order_payments_never_heard_of_and_a_stale_reservation():
    s = consistent()
    s = replace(s, order_replicas={k: r for k, r in s.order_replicas.items() if k != "o-expired"},
                reservations={**s.reservations, "o-paid": replace(s.reservations["o-paid"], status="active",
                                                                 version=0)})
    assert rules(s) == ["replica-order", "replica-reservation"]


def test_an_expiration_still_pending_for_a_paid_order():
    s = consistent()
    s = replace(s, expirations={**s.expirations, "o-paid": Expiration("o-paid", "pending")})
    assert rules(s) == ["replica-expiration"]


@pytest.mark.parametrize(("field", "rule"), [("outbox_pending", "outbox"), ("parked", "parked")])
def test_undrained_outboxes_and_parked_events(field, rule):
    s = consistent()
    s = replace(s, **{field: {**getattr(s, field), "orders": 3}})
    violations = audit(s)
    assert [v.rule for v in violations] == [rule]
    assert "orders: 3" in violations[0].detail


def test_dead_letters_are_violations_unless_explained():
    def letter(**changes) -> DeadLetter:
        base = DeadLetter("payments", 7, "order.cancelled", "order.cancelled", "e-1", "RetryLater: early", "pending",
                          applied=False)
        return replace(base, **changes)

    s = consistent()
    violations = audit(replace(s, dead_letters=[letter()]))
    assert [v.rule for v in violations] == ["dead-letter"]
    assert "RetryLater: early" in violations[0].detail
    assert audit(replace(s, dead_letters=[letter(applied=True), letter(id=8, status="discarded")])) == []


def test_what_is_in_flight_is_named():
    s = with_order(consistent(), "o-live", expires_at=NOW - timedelta(seconds=1))
    s = replace(s, outbox_pending={**s.outbox_pending, "tickets": 2})
    assert s.in_flight() == ["2 outbox events in tickets", "1 orders awaiting payment", "1 expirations scheduled"]


def test_settle_returns_once_the_snapshot_passes_with_nothing_in_flight():
    expired = with_order(consistent(), "o-live", expires_at=NOW - timedelta(seconds=1))
    snapshots = iter([expired, consistent(), consistent(held=False)])
    seen = []
    verdict = settle(lambda: next(snapshots), timeout=5, interval=0, say=seen.append)
    assert verdict.violations == []
    assert verdict.settled
    assert len(seen) == 2  # the expired order, then the one still inside its window


def test_settle_gives_up_on_a_state_that_stopped_changing():
    broken = with_ticket(consistent(held=False), "t-expired", order_id="o-expired", sold=True)
    assert broken.in_flight() == []
    verdict = settle(lambda: broken, timeout=5, stable_seconds=0, interval=0, say=lambda _: None)
    assert [v.rule for v in verdict.violations] == ["ticket-holder"]
    assert verdict.settled


def _with_cart(s: Snapshot, *, second_holder: str | None, second_sold: bool) -> Snapshot:
    """A paid order of two tickets, t-sold and t-second."""
    s = with_order(s, "o-paid", ticket_ids=("t-sold", "t-second"))
    second = Ticket("t-second", "Gig", PRICE, 2, second_holder, sold=second_sold)
    return replace(s, tickets={**s.tickets, second.id: second},
                   ticket_replicas={**s.ticket_replicas, second.id: TicketReplica(second.id, "Gig", PRICE, 2)})


def test_every_ticket_of_a_paid_cart_must_be_sold_to_it():
    assert audit(_with_cart(consistent(), second_holder="o-paid", second_sold=True)) == []
    violations = audit(_with_cart(consistent(), second_holder=None, second_sold=False))
    assert [v.rule for v in violations] == ["ticket-holder"] and "t-second" in violations[0].detail


def test_a_ticket_in_two_paid_carts_is_sold_twice():
    s = _with_cart(consistent(), second_holder="o-paid", second_sold=True)
    other = replace(_order("o-other", "t-other", "complete", 1), ticket_ids=("t-other", "t-second"))
    s = replace(s, orders={**s.orders, other.id: other})
    assert "sold-twice" in rules(s)


def _edited_cart(s: Snapshot) -> Snapshot:
    """An unpaid order reserved for t-a, t-b and t-c, then t-c taken out again (v1); t-c is free."""
    cart = replace(_order("o-cart", "t-a", "created", 1, expires_in=5), price=2 * PRICE, ticket_ids=("t-a", "t-b"))
    tickets = [Ticket("t-a", "Gig", PRICE, 1, "o-cart", sold=False), Ticket("t-b", "Gig", PRICE, 1, "o-cart",
                                                                           sold=False),
               Ticket("t-c", "Gig", PRICE, 2, None, sold=False)]
    return replace(
        s,
        tickets={**s.tickets, **{t.id: t for t in tickets}},
        ticket_replicas={**s.ticket_replicas, **{t.id: TicketReplica(t.id, "Gig", PRICE, t.version) for t in tickets}},
        orders={**s.orders, cart.id: cart},
        order_replicas={**s.order_replicas, cart.id: OrderReplica(cart.id, "t-a", "created", 1, 2 * PRICE)},
        reservations={**s.reservations, cart.id: Reservation(cart.id, "t-a", "active", 1, ("t-b", "t-a"))},
        expirations={**s.expirations, cart.id: Expiration(cart.id, "pending")},
    )


def test_a_ticket_taken_out_of_a_cart_no_longer_counts_for_it():
    assert audit(_edited_cart(consistent())) == []


def test_a_ticket_taken_out_of_a_cart_but_still_held_by_it_in_tickets():
    violations = audit(with_ticket(_edited_cart(consistent()), "t-c", order_id="o-cart"))
    assert [v.rule for v in violations] == ["ticket-holder"]
    assert "t-c" in violations[0].detail and "taken out of the order" in violations[0].detail


def test_a_ticket_taken_out_of_a_paid_cart_may_be_sold_to_another_order():
    s = _with_cart(consistent(), second_holder="o-other", second_sold=True)
    s = with_order(s, "o-paid", ticket_ids=("t-sold",))  # t-second was taken out before paying
    other = replace(_order("o-other", "t-second", "complete", 1), ticket_ids=("t-second",))
    s = replace(
        s,
        orders={**s.orders, other.id: other},
        order_replicas={**s.order_replicas, other.id: OrderReplica(other.id, "t-second", "complete", 1, PRICE)},
        reservations={**s.reservations, other.id: Reservation(other.id, "t-second", "complete", 1)},
        expirations={**s.expirations, other.id: Expiration(other.id, "order_completed")},
        payments={**s.payments, "p-other": Payment("p-other", other.id, "pi_other", "succeeded", PRICE)},
        charges={**s.charges, "pi_other": Charge("pi_other", other.id, "succeeded", PRICE, refunded=False)},
    )
    assert audit(s) == []
    # Had the first cart still held it when paid, the ticket would be sold twice.
    assert "sold-twice" in rules(with_order(s, "o-paid", ticket_ids=("t-sold", "t-second")))


def test_two_multi_ticket_orders_sharing_a_ticket_are_sold_twice_by_both_checks():
    s = _with_cart(consistent(), second_holder="o-paid", second_sold=True)
    other = replace(_order("o-other", "t-third", "complete", 1), ticket_ids=("t-third", "t-second"))
    s = replace(
        s,
        orders={**s.orders, other.id: other},
        order_replicas={**s.order_replicas, other.id: OrderReplica(other.id, "t-third", "complete", 1, PRICE)},
        payments={**s.payments, "p-other": Payment("p-other", other.id, "pi_other", "succeeded", PRICE)},
    )
    sold_twice = [v.detail for v in audit(s) if v.rule == "sold-twice"]
    assert len(sold_twice) == 2  # two complete orders, two succeeded payments
    assert all("t-second" in detail for detail in sold_twice)
    assert "o-other" in sold_twice[0] and "o-paid" in sold_twice[0]


def test_tickets_reservation_of_a_cart_holding_other_tickets_than_the_order():
    s = _edited_cart(consistent())
    stale = replace(s.reservations["o-cart"], ticket_ids=("t-a", "t-b", "t-c"))  # missed that t-c was taken out
    violations = audit(replace(s, reservations={**s.reservations, "o-cart": stale}))
    assert [v.rule for v in violations] == ["replica-reservation"]
    assert "t-c" in violations[0].detail
