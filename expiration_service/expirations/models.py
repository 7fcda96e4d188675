"""One row per order: when its reservation ends, and whether that was announced."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class ExpirationQuerySet(models.QuerySet["Expiration"]):
    def pending(self) -> ExpirationQuerySet:
        return self.filter(status=Expiration.Status.PENDING)

    def due(self) -> ExpirationQuerySet:
        """Pending and past the deadline by the database's clock (the same for every worker)."""
        return self.pending().filter(expires_at__lte=Now())


class Expiration(models.Model):
    """The deadline of one order, stored durably so no restart can lose it.

    ``order_id`` is the primary key: a redelivered or duplicated ``order.created``
    meets the constraint instead of creating a second row. A row leaves ``pending``
    exactly once, either by firing (``expiration.complete`` written to the outbox in
    the same transaction) or because the order ended first.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        FIRED = "fired", "Fired"
        ORDER_CANCELLED = "order_cancelled", "Not needed: order cancelled"
        ORDER_COMPLETED = "order_completed", "Not needed: order paid"

    order_id = models.UUIDField(primary_key=True)
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Empty only while the order's end was heard of before its creation.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    fired_at = models.DateTimeField(null=True, blank=True, help_text="When expiration.complete was written.")
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    objects = ExpirationQuerySet.as_manager()

    class Meta:
        ordering = ["expires_at"]
        indexes = [
            # The poll's query: pending rows by deadline.
            models.Index(fields=["expires_at"], name="expiration_pending_idx", condition=Q(status="pending")),
            models.Index(fields=["status", "-expires_at"], name="expiration_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(expires_at__isnull=False),
                name="expiration_pending_has_deadline",
            ),
            models.CheckConstraint(
                condition=Q(status="fired", fired_at__isnull=False, expires_at__isnull=False)
                | (~Q(status="fired") & Q(fired_at__isnull=True)),
                name="expiration_fired_iff_fired_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} ({self.get_status_display()})"

    @property
    def lateness_seconds(self) -> float | None:
        """How long after the deadline the event was written."""
        if self.fired_at is None or self.expires_at is None:
            return None
        return (self.fired_at - self.expires_at).total_seconds()
