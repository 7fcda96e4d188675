import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from expirations.models import Expiration


class ExpirationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Expiration

    order_id = factory.LazyFunction(uuid.uuid4)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=15))


def due(seconds_ago: float = 1.0) -> dict:
    """Factory arguments for a pending expiration whose deadline has passed."""
    return {"expires_at": timezone.now() - timedelta(seconds=seconds_ago)}
