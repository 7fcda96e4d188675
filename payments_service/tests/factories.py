import uuid
from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from payments.models import Order, Payment


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    id = factory.LazyFunction(uuid.uuid4)
    user_id = factory.LazyFunction(uuid.uuid4)
    status = Order.Status.CREATED
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=15))
    price = Decimal("20.00")
    ticket_id = factory.LazyFunction(uuid.uuid4)
    version = 0


class PaymentFactory(factory.django.DjangoModelFactory):
    """A pending attempt by default, as a request leaves it while it talks to Stripe."""

    class Meta:
        model = Payment

    order = factory.SubFactory(OrderFactory)
    amount = factory.LazyAttribute(lambda payment: payment.order.price)
    currency = "usd"
    status = Payment.Status.PENDING
