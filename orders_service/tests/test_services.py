"""Service functions on their own: what must happen together, happens together, and the
rules say no with the shared domain errors."""

import uuid
from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from orders import services
from orders.models import Order
from tests.conftest import BUYER_ID, OTHER_ID
from tests.factories import OrderFactory, TicketFactory
from ticketing_shared.errors import Conflict, Forbidden, InvalidState, NotFound

pytestmark = pytest.mark.django_db


def test_replacing_an_expired_order_is_one_transaction(outbox, monkeypatch):
    """If the new order cannot be made, the expired one is not cancelled either."""
    ticket = TicketFactory()
    expired = OrderFactory(ticket=ticket, expires_at=timezone.now() - timedelta(seconds=1))
    real_publish = services.publish

    def publish_failing_on_create(event, **options):
        if event.topic == "order.created":
            raise RuntimeError("outbox unavailable")
        return real_publish(event, **options)

    monkeypatch.setattr(services, "publish", publish_failing_on_create)

    with pytest.raises(RuntimeError):
        services.order_create(user_id=BUYER_ID, ticket_id=ticket.id)

    expired.refresh_from_db()
    assert (expired.status, expired.version) == ("created", 0)
    assert list(Order.objects.all()) == [expired]
    assert outbox() == []


def test_every_change_of_an_order_bumps_its_version_once(outbox):
    ticket = TicketFactory()
    order = services.order_create(user_id=BUYER_ID, ticket_id=ticket.id)
    assert order.version == 0

    services.order_cancel(order_id=order.id)
    services.order_cancel(order_id=order.id)

    order.refresh_from_db()
    assert (order.status, order.version) == ("cancelled", 1)
    assert [(event["type"], event["data"]["version"]) for event in outbox()] == [
        ("order.created", 0),
        ("order.cancelled", 1),
    ]


def test_an_order_lives_for_the_configured_window(settings):
    settings.ORDER_EXPIRATION_SECONDS = 5
    ticket = TicketFactory()
    before = timezone.now()

    order = services.order_create(user_id=BUYER_ID, ticket_id=ticket.id)

    assert before + timedelta(seconds=5) <= order.expires_at <= timezone.now() + timedelta(seconds=5)
    assert order.expires_at - order.created_at == timedelta(seconds=5)


# -- the rules say no with domain errors --------------------------------------------


def test_only_the_buyer_gets_their_order():
    order = OrderFactory(user_id=BUYER_ID)

    assert services.order_get(order_id=order.id, user_id=BUYER_ID) == order
    with pytest.raises(Forbidden):
        services.order_get(order_id=order.id, user_id=OTHER_ID)
    with pytest.raises(NotFound):
        services.order_get(order_id=uuid.uuid4(), user_id=BUYER_ID)


def test_only_the_buyer_or_an_operator_cancels_an_order(outbox):
    order = OrderFactory(user_id=BUYER_ID)

    with pytest.raises(Forbidden):
        services.order_cancel(order_id=order.id, user_id=OTHER_ID)
    order.refresh_from_db()
    assert (order.status, order.version, outbox()) == ("created", 0, [])

    services.order_cancel(order_id=order.id)  # an operator: no buyer to check
    order.refresh_from_db()
    assert (order.status, order.version) == ("cancelled", 1)


def test_a_reservation_is_refused_with_domain_errors():
    held = OrderFactory()

    with pytest.raises(NotFound, match="Ticket not found"):
        services.order_create(user_id=BUYER_ID, ticket_id=uuid.uuid4())
    with pytest.raises(InvalidState, match="Ticket is already reserved"):
        services.order_create(user_id=BUYER_ID, ticket_id=held.ticket_id)


def test_a_complete_order_cannot_be_cancelled_by_anyone():
    order = OrderFactory(user_id=BUYER_ID, status=Order.Status.COMPLETE, version=1)

    with pytest.raises(InvalidState, match="Cannot cancel a complete order"):
        services.order_cancel(order_id=order.id, user_id=BUYER_ID)
    with pytest.raises(InvalidState):
        services.order_cancel(order_id=order.id)


@pytest.mark.parametrize(
    "write",
    [
        services.order_cancel,
        services.order_expire,
        partial(services.order_complete, amount=Decimal("20.00")),
        services.order_payment_refunded,
    ],
)
def test_writes_to_an_unknown_order_are_not_found(write):
    with pytest.raises(NotFound):
        write(order_id=uuid.uuid4())


# -- every cancel says why ------------------------------------------------------------


def test_each_way_of_cancelling_keeps_its_reason(outbox):
    by_buyer, by_operator, expiring = OrderFactory(user_id=BUYER_ID), OrderFactory(), OrderFactory()

    services.order_cancel(order_id=by_buyer.id, user_id=BUYER_ID)
    services.order_cancel(order_id=by_operator.id)
    services.order_expire(order_id=expiring.id)

    reasons = dict(Order.objects.values_list("id", "cancel_reason"))
    assert (reasons[by_buyer.id], reasons[by_operator.id], reasons[expiring.id]) == ("by_buyer", "operator", "expired")
    assert {(event["aggregateid"], event["data"]["reason"]) for event in outbox("order.cancelled")} == {
        (str(by_buyer.id), "by_buyer"),
        (str(by_operator.id), "operator"),
        (str(expiring.id), "expired"),
    }


def test_cancelling_again_keeps_the_first_reason(outbox):
    order = OrderFactory(user_id=BUYER_ID)
    services.order_expire(order_id=order.id)

    services.order_cancel(order_id=order.id, user_id=BUYER_ID)

    order.refresh_from_db()
    assert (order.cancel_reason, order.version) == ("expired", 1)
    assert len(outbox("order.cancelled")) == 1


def test_the_database_keeps_reasons_for_cancelled_orders_only():
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderFactory(status=Order.Status.CREATED, cancel_reason=Order.CancelReason.EXPIRED)
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderFactory(status=Order.Status.CANCELLED, cancel_reason="bored")


def test_an_order_at_an_expected_total_that_differs_is_a_conflict_on_that_field():
    ticket = TicketFactory(price=Decimal("40.00"))

    with pytest.raises(Conflict) as refused:
        services.order_create(user_id=BUYER_ID, ticket_id=ticket.id, expected_total=Decimal("10.00"))

    assert (refused.value.message, refused.value.field) == ("The price changed", "expected_total")
    assert not Order.objects.exists()
