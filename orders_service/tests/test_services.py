"""Service functions on their own: what must happen together, happens together."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services
from orders.models import Order
from tests.conftest import BUYER_ID
from tests.factories import OrderFactory, TicketFactory

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
