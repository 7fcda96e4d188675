import uuid
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from orders.models import Order, Ticket


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    id = factory.LazyFunction(uuid.uuid4)
    title = factory.Sequence(lambda n: f"Concert {n}")
    price = Decimal("20.00")
    user_id = factory.LazyFunction(uuid.uuid4)
    version = 0


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    user_id = factory.LazyFunction(uuid.uuid4)
    ticket = factory.SubFactory(TicketFactory)
    status = Order.Status.CREATED
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=15))
    price = factory.LazyAttribute(lambda order: order.ticket.price)
