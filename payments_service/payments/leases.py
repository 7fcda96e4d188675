"""Leases on payment rows: who may talk to Stripe about one payment right now.

No database transaction is held open across a Stripe call (a slow Stripe would pin row
locks and connections), so a request, the refund task, the sweep and the admin agree
through the row itself: whoever wrote its ``attempt`` token, until ``lease_until``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from payments.models import Payment


def expiry():
    """When a lease taken now runs out."""
    return timezone.now() + timedelta(seconds=settings.PAYMENT_ATTEMPT_LEASE_SECONDS)


def free(now=None) -> Q:
    """Rows nobody holds: never leased, or the holder's lease ran out (it died or gave up)."""
    now = now or timezone.now()
    return Q(lease_until__isnull=True) | Q(lease_until__lte=now)


def take(payment_id: uuid.UUID, *, status: str) -> uuid.UUID | None:
    """Lease the payment in ``status`` if nobody holds it; the token, or None when taken."""
    token = uuid.uuid4()
    taken = Payment.objects.filter(free(), pk=payment_id, status=status).update(attempt=token, lease_until=expiry())
    return token if taken else None


def held(payment_id: uuid.UUID, token: uuid.UUID) -> QuerySet[Payment]:
    """The payment's row, as long as the lease ``token`` still holds it."""
    return Payment.objects.filter(pk=payment_id, attempt=token)


def release(payment_id: uuid.UUID, token: uuid.UUID) -> None:
    """Let go, so the next request or the sweep may look at it at once."""
    held(payment_id, token).update(attempt=None, lease_until=None)
