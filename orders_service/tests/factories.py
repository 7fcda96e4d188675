import uuid
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from orders.models import Order, OrderItem, Ticket


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
        skip_postgeneration_save = True

    user_id = factory.LazyFunction(uuid.uuid4)
    ticket = factory.SubFactory(TicketFactory)
    status = Order.Status.CREATED
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=15))
    price = factory.LazyAttribute(lambda order: order.ticket.price)

    @factory.post_generation
    def items(order, create, extracted, **kwargs):
        """An order of its one ticket, as every order before carts; ``items=[ticket, ...]`` for more."""
        if not create:
            return
        tickets = extracted if extracted is not None else [order.ticket]
        for ticket in tickets:
            OrderItem.objects.create(order=order, ticket=ticket, price=ticket.price,
                                     live=order.status in Order.LIVE, added_at=order.created_at)
