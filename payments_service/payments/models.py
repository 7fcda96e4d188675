"""Orders as the orders service publishes them, and the payments we take for them."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ticketing_shared.money import MoneyField
from ticketing_shared.versioning import VersionedModel


class Order(VersionedModel):
    """A replica of an order, kept from ``order.*`` events; ``version`` is the publisher's."""

    class Status(models.TextChoices):
        CREATED = "created", "Created"
        CANCELLED = "cancelled", "Cancelled"
        AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
        COMPLETE = "complete", "Complete"

    id = models.UUIDField(primary_key=True)
    user_id = models.UUIDField(db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    expires_at = models.DateTimeField()
    price = MoneyField()
    ticket_id = models.UUIDField()
    payment_attempts = models.PositiveIntegerField(
        default=0, help_text="PaymentIntents created for it so far; numbers each attempt's Stripe idempotency key."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Order {self.id} ({self.status})"

    def is_expired(self, now: datetime | None = None) -> bool:
        """Past its window, whether or not the expiration event has come yet."""
        return self.expires_at <= (now or timezone.now())


class Payment(models.Model):
    """One per order: an attempt in flight, then the charge, then perhaps its refund.

    ``pending`` rows are attempts: the request that owns ``attempt`` may work on the
    row until ``lease_until``; after that another request or the reconciliation
    sweep takes it over and settles it with Stripe. A declined attempt's row is
    deleted, so a decline leaves nothing behind.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        REFUND_PENDING = "refund_pending", "Refund pending"
        REFUNDED = "refunded", "Refunded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="payment")
    stripe_id = models.CharField(
        max_length=255, unique=True, null=True, blank=True, verbose_name="Stripe PaymentIntent"
    )
    amount = MoneyField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempt = models.UUIDField(null=True, blank=True, help_text="The request or job working on this row now.")
    lease_until = models.DateTimeField(null=True, blank=True)
    refund_id = models.CharField(max_length=255, blank=True, verbose_name="Stripe refund")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Only an attempt may lack its PaymentIntent; a refund names Stripe's refund.
            models.CheckConstraint(
                condition=Q(status="pending") | Q(stripe_id__isnull=False), name="payment_charged_has_stripe_id"
            ),
            models.CheckConstraint(
                condition=~Q(status="refunded") | ~Q(refund_id=""), name="payment_refunded_has_refund_id"
            ),
        ]
        indexes = [models.Index(fields=["status", "lease_until"], name="payment_work_idx")]

    def __str__(self) -> str:
        return f"Payment {self.id} ({self.status})"
