"""The order replica from ``order.*`` events, and the refund of a cancelled order's payment."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from payments.models import Order, Payment
from tests.conftest import pay, refunds_for
from tests.factories import OrderFactory
from ticketing_shared.events.registry import PoisonMessage, RetryLater

pytestmark = pytest.mark.django_db


def created_data(**overrides) -> dict:
    data = {
        "id": str(uuid.uuid4()),
        "status": "created",
        "user_id": str(uuid.uuid4()),
        "expires_at": "2030-01-01T12:15:00+00:00",
        "version": 0,
        "ticket": {"id": str(uuid.uuid4()), "price": "20.00"},
    }
    return {**data, **overrides}


def changed(order, version: int) -> dict:
    return {"id": str(order.id), "version": version, "ticket": {"id": str(order.ticket_id)}}


def test_order_created_adds_the_order_to_the_replica(deliver):
    data = created_data()

    assert deliver("order.created", data) is True

    order = Order.objects.get(pk=data["id"])
    assert str(order.user_id) == data["user_id"]
    assert str(order.ticket_id) == data["ticket"]["id"]
    assert (order.status, order.price, order.version) == ("created", Decimal("20.00"), 0)
    assert order.expires_at == datetime(2030, 1, 1, 12, 15, tzinfo=UTC)


def test_a_price_sent_as_a_number_is_accepted(deliver):
    data = created_data(ticket={"id": str(uuid.uuid4()), "price": 12.5})

    deliver("order.created", data)

    assert Order.objects.get(pk=data["id"]).price == Decimal("12.50")


def test_a_redelivered_or_republished_order_created_changes_nothing(deliver):
    data = created_data()
    event_id = str(uuid.uuid4())
    deliver("order.created", data, event_id=event_id)
    Order.objects.filter(pk=data["id"]).update(status="cancelled", version=1)

    assert deliver("order.created", data, event_id=event_id) is False  # the inbox knows it
    assert deliver("order.created", data) is True  # published twice: the insert does nothing

    assert Order.objects.get(pk=data["id"]).version == 1


@pytest.mark.parametrize(
    "data",
    [
        created_data(id="not-a-uuid"),
        created_data(status="lost"),
        created_data(ticket={"id": str(uuid.uuid4())}),
        {"id": str(uuid.uuid4())},
    ],
)
def test_an_order_created_that_does_not_fit_the_schema_is_poison(deliver, data):
    with pytest.raises(PoisonMessage):
        deliver("order.created", data)

    assert not Order.objects.exists()


def test_order_cancelled_marks_the_order_cancelled(deliver):
    order = OrderFactory(version=0)

    deliver("order.cancelled", changed(order, 1))

    order.refresh_from_db()
    assert (order.status, order.version) == ("cancelled", 1)


def test_order_completed_marks_the_order_complete(deliver):
    order = OrderFactory(version=0)

    deliver("order.completed", changed(order, 1))

    order.refresh_from_db()
    assert (order.status, order.version) == ("complete", 1)


def test_an_early_event_waits_for_the_version_before_it(deliver):
    order = OrderFactory(version=0)

    with pytest.raises(RetryLater):
        deliver("order.cancelled", changed(order, 2))

    order.refresh_from_db()
    assert (order.status, order.version) == ("created", 0)


def test_a_status_event_before_its_order_created_waits(deliver):
    with pytest.raises(RetryLater):
        deliver("order.cancelled", {"id": str(uuid.uuid4()), "version": 1, "ticket": {"id": str(uuid.uuid4())}})


def test_a_stale_event_is_ignored(deliver):
    order = OrderFactory(status=Order.Status.COMPLETE, version=2)

    assert deliver("order.cancelled", changed(order, 1)) is True  # applied as a no-op

    order.refresh_from_db()
    assert (order.status, order.version) == ("complete", 2)


def test_a_malformed_status_event_is_poison(deliver):
    with pytest.raises(PoisonMessage):
        deliver("order.cancelled", {"id": str(uuid.uuid4())})


# -- compensation ------------------------------------------------------------------


def test_cancelling_a_paid_order_refunds_the_payment(
    buyer, order, deliver, outbox, eager_tasks, django_capture_on_commit_callbacks
):
    assert pay(buyer, order.id).status_code == 201
    payment = Payment.objects.get()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        deliver("order.cancelled", changed(order, 1))

    assert len(callbacks) == 1  # the refund is dispatched after the commit, never inside it
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    [refund] = refunds_for(payment.stripe_id)
    assert (refund.id, refund.amount, refund.status) == (payment.refund_id, 2000, "succeeded")
    assert outbox("payment.refunded") == [
        {
            "type": "payment.refunded",
            "aggregateid": str(payment.id),
            "data": {
                "id": str(payment.id),
                "order_id": str(order.id),
                "stripe_id": payment.stripe_id,
                "amount": "20.00",
            },
        }
    ]


def test_the_compensation_runs_once_however_often_the_event_comes(
    buyer, order, deliver, outbox, eager_tasks, django_capture_on_commit_callbacks
):
    pay(buyer, order.id)
    event_id = str(uuid.uuid4())

    with django_capture_on_commit_callbacks(execute=True):
        deliver("order.cancelled", changed(order, 1), event_id=event_id)
        deliver("order.cancelled", changed(order, 1), event_id=event_id)
        deliver("order.cancelled", changed(order, 1))  # republished with a new id

    assert len(refunds_for(Payment.objects.get().stripe_id)) == 1
    assert len(outbox("payment.refunded")) == 1


def test_a_repeated_cancel_refunds_a_payment_the_first_one_left_alone(
    buyer, order, deliver, outbox, eager_tasks, django_capture_on_commit_callbacks
):
    """The orders service repeats order.cancelled when a payment reaches a cancelled order."""
    assert pay(buyer, order.id).status_code == 201
    order.__class__.objects.filter(pk=order.pk).update(status="cancelled", version=1)  # cancel applied, no refund

    with django_capture_on_commit_callbacks(execute=True):
        deliver("order.cancelled", changed(order, 1))

    payment = Payment.objects.get()
    assert payment.status == Payment.Status.REFUNDED
    assert len(refunds_for(payment.stripe_id)) == 1
    assert len(outbox("payment.refunded")) == 1


def test_a_refund_that_meets_a_stripe_outage_is_finished_by_the_sweep(
    buyer, order, deliver, outbox, eager_tasks, stripe_outage, django_capture_on_commit_callbacks
):
    from payments.services import payments_reconcile

    pay(buyer, order.id)
    stripe_outage.start()

    with django_capture_on_commit_callbacks(execute=True):
        deliver("order.cancelled", changed(order, 1))  # the task meets the outage and gives up quietly

    payment = Payment.objects.get()
    assert (payment.status, payment.lease_until) == (Payment.Status.REFUND_PENDING, None)
    assert order.__class__.objects.get(pk=order.pk).status == "cancelled"  # the replica moved on regardless
    assert outbox("payment.refunded") == []

    stripe_outage.end()
    assert payments_reconcile()["refunded"] == 1

    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert len(refunds_for(payment.stripe_id)) == 1
    assert len(outbox("payment.refunded")) == 1


def test_cancelling_an_unpaid_order_refunds_nothing(order, deliver, outbox):
    deliver("order.cancelled", changed(order, 1))

    assert not Payment.objects.exists()
    assert outbox() == []


def test_a_cancelled_order_with_a_payment_in_flight_is_refunded_when_the_payment_settles(
    order, deliver, outbox, eager_tasks, django_capture_on_commit_callbacks
):
    """The sweep settles an attempt whose request died; its order was cancelled meanwhile."""
    from payments.services import payments_reconcile
    from tests.conftest import charged_intent
    from tests.factories import PaymentFactory

    intent = charged_intent(order.id)
    PaymentFactory(
        order=order, stripe_id=intent.id, attempt=uuid.uuid4(), lease_until=timezone.now() - timedelta(seconds=1)
    )
    deliver("order.cancelled", changed(order, 1))

    assert payments_reconcile()["settled"] == 1

    payment = Payment.objects.get()
    assert payment.status == Payment.Status.REFUNDED
    assert len(refunds_for(intent.id)) == 1
    assert outbox("payment.created") == []
    assert len(outbox("payment.refunded")) == 1
