"""Every consumed event, applied through the consumer's path (``deliver``): once per
event id, in version order, and harmless when repeated."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders import services
from orders.models import Order, Ticket
from tests.conftest import reserve
from tests.factories import OrderFactory, TicketFactory
from ticketing_shared.events.models import ProcessedEvent
from ticketing_shared.events.registry import PoisonMessage, RetryLater

pytestmark = pytest.mark.django_db

SELLER_ID = str(uuid.uuid4())


def ticket_data(ticket_id, version=0, title="Concert", price="20.00", **extra):
    return {"id": str(ticket_id), "title": title, "price": price, "user_id": SELLER_ID, "version": version, **extra}


def updated_data(ticket_id, version, title="Concert", price="20.00", order_id=None, **extra):
    return ticket_data(ticket_id, version, title, price, order_id=order_id, **extra)


def assert_state(order: Order, status: str, version: int) -> None:
    order.refresh_from_db()
    assert (order.status, order.version) == (status, version)


# -- ticket.created -----------------------------------------------------------------


def test_ticket_created_inserts_the_replica(deliver):
    ticket_id = uuid.uuid4()

    assert deliver("ticket.created", ticket_data(ticket_id, title="Opera", price="45.50")) is True

    ticket = Ticket.objects.get()
    assert (ticket.id, ticket.title, ticket.price, str(ticket.user_id), ticket.version) == (
        ticket_id,
        "Opera",
        Decimal("45.50"),
        SELLER_ID,
        0,
    )


def test_ticket_created_redelivered_is_applied_once(deliver):
    ticket_id, event_id = uuid.uuid4(), str(uuid.uuid4())
    deliver("ticket.created", ticket_data(ticket_id, title="First"), event_id=event_id)

    assert deliver("ticket.created", ticket_data(ticket_id, title="First"), event_id=event_id) is False
    # The same creation published twice (two event ids) changes nothing either.
    assert deliver("ticket.created", ticket_data(ticket_id, title="Second")) is True
    assert list(Ticket.objects.values_list("title", "version")) == [("First", 0)]
    assert ProcessedEvent.objects.count() == 2


def test_ticket_created_accepts_a_numeric_price(deliver):
    deliver("ticket.created", ticket_data(uuid.uuid4(), price=12.5))

    assert Ticket.objects.get().price == Decimal("12.50")


def test_a_ticket_becomes_reservable_when_its_creation_arrives(deliver, buyer):
    ticket_id = uuid.uuid4()
    assert reserve(buyer, ticket_id).status_code == 404  # not replicated yet

    deliver("ticket.created", ticket_data(ticket_id))

    assert reserve(buyer, ticket_id).status_code == 201


@pytest.mark.parametrize(
    "data",
    [
        {"id": "x", "title": "t", "price": "1.00", "user_id": SELLER_ID, "version": 0},
        {"title": "t", "price": "1.00", "user_id": SELLER_ID, "version": 0},
        {"id": str(uuid.uuid4()), "title": "t", "price": "cheap", "user_id": SELLER_ID, "version": 0},
        {"id": str(uuid.uuid4()), "title": "t", "price": "1.00", "user_id": SELLER_ID, "version": -1},
    ],
)
def test_ticket_created_with_unusable_data_is_a_poison_message(deliver, data):
    with pytest.raises(PoisonMessage):
        deliver("ticket.created", data)

    assert not Ticket.objects.exists()
    assert not ProcessedEvent.objects.exists()


# -- ticket.updated -----------------------------------------------------------------


def test_ticket_updated_applies_the_next_version(deliver):
    ticket = TicketFactory(version=0)

    assert deliver("ticket.updated", updated_data(ticket.id, 1, title="Renamed", price="30.00")) is True

    ticket.refresh_from_db()
    assert (ticket.title, ticket.price, ticket.version) == ("Renamed", Decimal("30.00"), 1)


def test_ticket_updated_redelivered_or_stale_changes_nothing(deliver):
    ticket = TicketFactory(version=0)
    event_id = str(uuid.uuid4())
    deliver("ticket.updated", updated_data(ticket.id, 1, title="v1"), event_id=event_id)
    deliver("ticket.updated", updated_data(ticket.id, 2, title="v2"))

    assert deliver("ticket.updated", updated_data(ticket.id, 1, title="v1"), event_id=event_id) is False
    assert deliver("ticket.updated", updated_data(ticket.id, 1, title="v1 again")) is True  # stale: ignored

    ticket.refresh_from_db()
    assert (ticket.title, ticket.version) == ("v2", 2)


def test_an_early_ticket_updated_is_retried_later_and_then_applied_in_order(deliver):
    ticket = TicketFactory(version=0, title="v0")
    early_id = str(uuid.uuid4())

    with pytest.raises(RetryLater):
        deliver("ticket.updated", updated_data(ticket.id, 2, title="v2"), event_id=early_id)

    ticket.refresh_from_db()
    assert (ticket.title, ticket.version) == ("v0", 0)
    assert not ProcessedEvent.objects.filter(event_id=early_id).exists(), "not marked applied: it comes back"

    deliver("ticket.updated", updated_data(ticket.id, 1, title="v1"))
    assert deliver("ticket.updated", updated_data(ticket.id, 2, title="v2"), event_id=early_id) is True
    ticket.refresh_from_db()
    assert (ticket.title, ticket.version) == ("v2", 2)


def test_a_ticket_updated_before_its_creation_is_retried_later(deliver):
    ticket_id = uuid.uuid4()

    with pytest.raises(RetryLater):
        deliver("ticket.updated", updated_data(ticket_id, 1))

    assert not Ticket.objects.exists()


def test_ticket_updated_with_its_order_id_keeps_the_replica_in_step(deliver):
    """The tickets service echoes our reservation back as a new version; nothing else changes."""
    ticket = TicketFactory(version=0)
    order = OrderFactory(ticket=ticket)

    deliver("ticket.updated", updated_data(ticket.id, 1, order_id=str(order.id)))

    ticket.refresh_from_db()
    assert ticket.version == 1
    assert_state(order, "created", 0)


# -- ticket.updated: a buyer never pays another price than the seller set ---------------


def assert_cancelled_for(order: Order, reason: str, outbox) -> None:
    """The order (version 0, one ticket) is cancelled for ``reason``, and its ``order.cancelled`` written."""
    assert_state(order, "cancelled", 1)
    assert order.cancel_reason == reason
    ticket = {"id": str(order.ticket_id)}
    assert outbox() == [
        {
            "type": "order.cancelled",
            "aggregateid": str(order.id),
            "data": {"id": str(order.id), "version": 1, "ticket": ticket, "tickets": [ticket],
                     "user_id": str(order.user_id), "reason": reason},
        }
    ]


@pytest.mark.parametrize("status", [Order.Status.CREATED, Order.Status.AWAITING_PAYMENT])
def test_a_new_price_cancels_the_unpaid_order_made_at_the_old_one(deliver, outbox, status):
    """The order was made from a replica that had not heard of the seller's edit yet."""
    ticket = TicketFactory(version=0, price=Decimal("10.00"))
    order = OrderFactory(ticket=ticket, status=status)

    assert deliver("ticket.updated", updated_data(ticket.id, 1, price="40.00")) is True

    assert_cancelled_for(order, "price_changed", outbox)
    ticket.refresh_from_db()
    assert (ticket.price, ticket.version) == (Decimal("40.00"), 1)


def test_the_same_price_leaves_the_order_alone(deliver, outbox):
    """A title edit, or the tickets service echoing the hold, says nothing about the price."""
    ticket = TicketFactory(version=0, price=Decimal("10.00"))
    order = OrderFactory(ticket=ticket)

    deliver("ticket.updated", updated_data(ticket.id, 1, title="Concert (moved)", price="10.00"))
    deliver("ticket.updated", updated_data(ticket.id, 2, title="Concert (moved)", price="10", order_id=str(order.id)))

    assert_state(order, "created", 0)
    assert order.cancel_reason == ""
    assert outbox() == []


def test_the_price_compared_is_the_orders_not_the_replicas_last(deliver, outbox):
    """An order made after the edit arrived is at the new price: a later event repeating that price keeps it."""
    ticket = TicketFactory(version=1, price=Decimal("40.00"))
    order = OrderFactory(ticket=ticket)

    deliver("ticket.updated", updated_data(ticket.id, 2, price="40.00", order_id=str(order.id)))

    assert_state(order, "created", 0)
    assert outbox() == []


def test_a_complete_order_is_never_cancelled_for_a_new_price(deliver, outbox):
    ticket = TicketFactory(version=0, price=Decimal("10.00"))
    order = OrderFactory(ticket=ticket, status=Order.Status.COMPLETE, version=1)

    deliver("ticket.updated", updated_data(ticket.id, 1, price="40.00"))

    assert_state(order, "complete", 1)
    assert order.cancel_reason == ""
    assert outbox() == []


def test_a_cancelled_order_stays_as_it_was_cancelled(deliver, outbox):
    ticket = TicketFactory(version=0, price=Decimal("10.00"))
    order = OrderFactory(ticket=ticket, status=Order.Status.CANCELLED, cancel_reason="by_buyer", version=1)

    deliver("ticket.updated", updated_data(ticket.id, 1, price="40.00"))

    assert_state(order, "cancelled", 1)
    assert order.cancel_reason == "by_buyer"
    assert outbox() == []


# -- ticket.updated: nobody buys a ticket its seller unlisted ------------------------------


@pytest.mark.parametrize("status", [Order.Status.CREATED, Order.Status.AWAITING_PAYMENT])
def test_an_unlisting_cancels_the_unpaid_order_that_crossed_it(deliver, outbox, status):
    """The order was made here before the unlisting arrived; the tickets service, which had
    already unlisted the ticket, could not refuse it. Before: the order could be paid."""
    ticket = TicketFactory(version=0, price=Decimal("20.00"))
    order = OrderFactory(ticket=ticket, status=status)

    assert deliver("ticket.updated", updated_data(ticket.id, 1, unlisted=True)) is True

    assert_cancelled_for(order, "price_changed", outbox)
    ticket.refresh_from_db()
    assert (ticket.unlisted, ticket.version) == (True, 1)
    assert services.order_complete(order_id=order.id, amount=order.price) is False  # a payment racing it: refunded
    assert_state(order, "cancelled", 1)


def test_an_unlisting_leaves_paid_and_cancelled_orders_as_they_were(deliver, outbox):
    """A paid order came first: the sale stands (the tickets service hands the ticket over)."""
    ticket = TicketFactory(version=0, price=Decimal("20.00"))
    paid = OrderFactory(ticket=ticket, status=Order.Status.COMPLETE, version=1)
    gone = OrderFactory(ticket=TicketFactory(version=0), status=Order.Status.CANCELLED, cancel_reason="expired",
                        version=1)

    deliver("ticket.updated", updated_data(ticket.id, 1, unlisted=True))
    deliver("ticket.updated", updated_data(gone.ticket_id, 1, unlisted=True))

    assert_state(paid, "complete", 1)
    assert_state(gone, "cancelled", 1)
    assert (paid.cancel_reason, gone.cancel_reason) == ("", "expired")
    assert outbox() == []


def test_a_repeated_or_stale_unlisting_cancels_nothing_more(deliver, outbox):
    """Only the version that unlists cancels: a repeat of it (another event id) or an older
    version says nothing about orders made since (here one made by hand after it)."""
    ticket = TicketFactory(version=0, price=Decimal("20.00"))
    deliver("ticket.updated", updated_data(ticket.id, 1, unlisted=True))
    later = OrderFactory(ticket=ticket)

    assert deliver("ticket.updated", updated_data(ticket.id, 1, unlisted=True)) is True  # applied as a no-op
    assert deliver("ticket.updated", updated_data(ticket.id, 0, unlisted=True)) is True

    assert_state(later, "created", 0)
    assert outbox() == []


def test_a_stale_ticket_updated_cancels_nothing(deliver, outbox):
    """An old version's price is not the seller's price now: ignored, like its title."""
    ticket = TicketFactory(version=2, price=Decimal("40.00"))
    order = OrderFactory(ticket=ticket)

    assert deliver("ticket.updated", updated_data(ticket.id, 1, price="10.00")) is True  # applied as a no-op

    assert_state(order, "created", 0)
    assert outbox() == []


def test_an_early_ticket_updated_cancels_nothing_until_it_applies(deliver, outbox):
    ticket = TicketFactory(version=0, price=Decimal("10.00"))
    order = OrderFactory(ticket=ticket)

    with pytest.raises(RetryLater):
        deliver("ticket.updated", updated_data(ticket.id, 2, price="40.00"))

    assert_state(order, "created", 0)
    assert outbox() == []


def test_the_new_price_and_the_cancel_are_one_transaction(deliver, outbox, monkeypatch):
    """Were the cancel's event not written, the new price is not applied either: the event comes back."""
    ticket = TicketFactory(version=0, price=Decimal("10.00"))
    order = OrderFactory(ticket=ticket)

    def publish_failing(event, **options):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(services, "publish", publish_failing)

    with pytest.raises(RuntimeError):
        deliver("ticket.updated", updated_data(ticket.id, 1, price="40.00"))

    ticket.refresh_from_db()
    assert (ticket.price, ticket.version) == (Decimal("10.00"), 0)
    assert_state(order, "created", 0)
    assert outbox() == []


def test_after_a_price_cancel_the_ticket_can_be_reserved_at_the_new_price(deliver, buyer):
    ticket = TicketFactory(version=0, price=Decimal("10.00"))
    OrderFactory(ticket=ticket)

    deliver("ticket.updated", updated_data(ticket.id, 1, price="40.00"))
    response = reserve(buyer, ticket.id)

    assert response.status_code == 201, response.json()
    assert response.json()["ticket"]["price"] == "40.00"


# -- expiration.complete --------------------------------------------------------------


def test_expiration_cancels_a_pending_order_and_publishes(deliver, outbox):
    order = OrderFactory(expires_at=timezone.now() - timedelta(seconds=1))

    deliver("expiration.complete", {"order_id": str(order.id)})

    assert_state(order, "cancelled", 1)
    assert order.cancel_reason == "expired"
    assert outbox() == [
        {
            "type": "order.cancelled",
            "aggregateid": str(order.id),
            "data": {"id": str(order.id), "version": 1, "ticket": {"id": str(order.ticket_id)},
                     "tickets": [{"id": str(order.ticket_id)}], "user_id": str(order.user_id), "reason": "expired"},
        }
    ]


def test_expiration_redelivered_or_repeated_is_applied_once(deliver, outbox):
    order = OrderFactory()
    event_id = str(uuid.uuid4())
    deliver("expiration.complete", {"order_id": str(order.id)}, event_id=event_id)

    assert deliver("expiration.complete", {"order_id": str(order.id)}, event_id=event_id) is False
    deliver("expiration.complete", {"order_id": str(order.id)})  # a second expiration job, another id

    assert_state(order, "cancelled", 1)
    assert len(outbox("order.cancelled")) == 1


def test_expiration_of_a_complete_order_changes_nothing(deliver, outbox):
    order = OrderFactory(status=Order.Status.COMPLETE, version=1, expires_at=timezone.now() - timedelta(minutes=1))

    deliver("expiration.complete", {"order_id": str(order.id)})

    assert_state(order, "complete", 1)
    assert outbox() == []


def test_expiration_of_a_cancelled_order_changes_nothing(deliver, outbox):
    order = OrderFactory(status=Order.Status.CANCELLED, version=1)

    deliver("expiration.complete", {"order_id": str(order.id)})

    assert_state(order, "cancelled", 1)
    assert outbox() == []


@pytest.mark.parametrize("data", [{"order_id": str(uuid.uuid4())}, {"order_id": "nope"}, {}])
def test_expiration_of_an_unknown_order_is_a_poison_message(deliver, data):
    with pytest.raises(PoisonMessage):
        deliver("expiration.complete", data)

    assert not ProcessedEvent.objects.exists()


# -- payment.created ------------------------------------------------------------------


def payment(order: Order) -> dict:
    return {"id": str(uuid.uuid4()), "order_id": str(order.id), "stripe_id": "pi_123", "amount": "20.00"}


def test_payment_completes_the_order_and_publishes(deliver, outbox):
    order = OrderFactory()

    deliver("payment.created", payment(order))

    assert_state(order, "complete", 1)
    assert outbox() == [
        {
            "type": "order.completed",
            "aggregateid": str(order.id),
            "data": {"id": str(order.id), "version": 1, "ticket": {"id": str(order.ticket_id)},
                     "tickets": [{"id": str(order.ticket_id)}], "user_id": str(order.user_id)},
        }
    ]


def test_payment_redelivered_or_repeated_is_applied_once(deliver, outbox):
    order = OrderFactory()
    data, event_id = payment(order), str(uuid.uuid4())
    deliver("payment.created", data, event_id=event_id)

    assert deliver("payment.created", data, event_id=event_id) is False
    deliver("payment.created", data)

    assert_state(order, "complete", 1)
    assert len(outbox("order.completed")) == 1


def test_a_payment_for_a_cancelled_order_leaves_it_cancelled(deliver, outbox):
    """The payment lost the race against the expiry: the payments service refunds it on
    seeing the order cancelled; the ticket is not sold, so no order.completed."""
    order = OrderFactory(status=Order.Status.CANCELLED, cancel_reason=Order.CancelReason.PRICE_CHANGED, version=1)

    deliver("payment.created", payment(order))

    assert_state(order, "cancelled", 1)
    # said again, with the same reason, so a payments service that missed the cancel refunds all the same
    assert [(e["type"], e["data"]["version"], e["data"]["reason"]) for e in outbox()] == [
        ("order.cancelled", 1, "price_changed")
    ]


def test_a_payment_just_past_the_window_still_completes_an_uncancelled_order(deliver, outbox):
    """The payments service accepted it before the window closed and nobody took the
    ticket meanwhile: the buyer keeps it, and the late expiration changes nothing."""
    order = OrderFactory(expires_at=timezone.now() - timedelta(seconds=5))

    deliver("payment.created", payment(order))
    deliver("expiration.complete", {"order_id": str(order.id)})

    assert_state(order, "complete", 1)
    assert [event["type"] for event in outbox()] == ["order.completed"]


@pytest.mark.parametrize("data", [{"order_id": str(uuid.uuid4())}, {"order_id": None}, {"id": "p"}])
def test_payment_for_an_unknown_order_is_a_poison_message(deliver, data):
    with pytest.raises(PoisonMessage):
        deliver("payment.created", data)

    assert not ProcessedEvent.objects.exists()


# -- payment.created: consumers check what they can ------------------------------------


@pytest.mark.parametrize("amount", ["19.99", "20.01", "0.00", "2000.00"])
def test_a_payment_of_another_amount_never_completes_the_order(deliver, outbox, amount):
    """The order costs 20.00: anything else is refused for good (dead-lettered), and the order stays unpaid."""
    order = OrderFactory()
    data = {**payment(order), "amount": amount}

    with pytest.raises(PoisonMessage, match=f"payment.created {data['id']} paid {amount}, but order {order.id} "
                                            r"costs 20.00: not completed"):
        deliver("payment.created", data)

    assert_state(order, "created", 0)
    assert outbox() == []
    assert not ProcessedEvent.objects.exists()


def test_the_payment_compared_is_the_orders_price_not_the_tickets_now(deliver, outbox):
    """The buyer pays the price the order was made at, even after the replica moved on."""
    order = OrderFactory(price=Decimal("35.00"), ticket=TicketFactory(price=Decimal("20.00")))

    deliver("payment.created", {**payment(order), "amount": "35.00"})

    assert_state(order, "complete", 1)


def test_a_payment_of_another_amount_for_a_cancelled_order_still_says_the_cancel_again(deliver, outbox):
    """Its refund depends on the payments service hearing the cancel: that comes first."""
    order = OrderFactory(status=Order.Status.CANCELLED, cancel_reason=Order.CancelReason.EXPIRED, version=1)

    deliver("payment.created", {**payment(order), "amount": "1.00"})

    assert [(e["type"], e["data"]["reason"]) for e in outbox()] == [("order.cancelled", "expired")]


@pytest.mark.parametrize("source", ["tickets", "orders", "expiration", "someone"])
def test_a_payment_created_from_a_service_that_does_not_own_the_topic_is_refused(deliver, outbox, source):
    """Only the payments service may say an order was paid."""
    order = OrderFactory()

    with pytest.raises(PoisonMessage, match=f"comes from '{source}'; only 'payments' may send it"):
        deliver("payment.created", payment(order), source=source)

    assert_state(order, "created", 0)
    assert outbox() == []
    assert not ProcessedEvent.objects.exists()


# -- payment.refunded: an operator's refund cancels the order -----------------------------


def test_an_operators_refund_cancels_a_complete_order_and_frees_its_ticket(deliver, outbox, buyer):
    order = OrderFactory(status=Order.Status.COMPLETE, version=1)

    assert deliver("payment.refunded", payment(order)) is True

    assert_state(order, "cancelled", 2)
    assert order.cancel_reason == "operator"
    assert outbox() == [
        {
            "type": "order.cancelled",
            "aggregateid": str(order.id),
            "data": {"id": str(order.id), "version": 2, "ticket": {"id": str(order.ticket_id)},
                     "tickets": [{"id": str(order.ticket_id)}], "user_id": str(order.user_id), "reason": "operator"},
        }
    ]
    assert reserve(buyer, order.ticket_id).status_code == 201  # on sale again


def test_the_refund_of_a_cancelled_order_changes_nothing(deliver, outbox):
    """The payments service's own refund of a cancelled order: answering it would loop."""
    order = OrderFactory(status=Order.Status.CANCELLED, cancel_reason=Order.CancelReason.EXPIRED, version=1)

    assert deliver("payment.refunded", payment(order)) is True

    assert_state(order, "cancelled", 1)
    assert order.cancel_reason == "expired"
    assert outbox() == []


def test_a_refund_repeated_or_redelivered_cancels_once(deliver, outbox):
    order = OrderFactory(status=Order.Status.COMPLETE, version=1)
    data, event_id = payment(order), str(uuid.uuid4())

    deliver("payment.refunded", data, event_id=event_id)
    assert deliver("payment.refunded", data, event_id=event_id) is False
    deliver("payment.refunded", data)  # republished under another id

    assert_state(order, "cancelled", 2)
    assert len(outbox("order.cancelled")) == 1


def test_a_refund_that_overtakes_its_payment_cancels_the_pending_order_for_good(deliver, outbox):
    """payment.created and payment.refunded are different topics: the refund may come first.
    The order must not then be completed by the late payment: the money is back with the buyer."""
    order = OrderFactory()

    deliver("payment.refunded", payment(order))
    deliver("payment.created", payment(order))

    assert_state(order, "cancelled", 1)
    assert order.cancel_reason == "operator"
    assert [(e["type"], e["data"]["version"]) for e in outbox()] == [("order.cancelled", 1), ("order.cancelled", 1)]


@pytest.mark.parametrize("data", [{"order_id": str(uuid.uuid4())}, {"order_id": "nope"}])
def test_a_refund_for_an_unknown_order_is_a_poison_message(deliver, data):
    with pytest.raises(PoisonMessage):
        deliver("payment.refunded", {"id": str(uuid.uuid4()), "stripe_id": "pi_1", "amount": "20.00", **data})

    assert not ProcessedEvent.objects.exists()
