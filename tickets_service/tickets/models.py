"""Tickets for sale, and the orders this service has heard of for them.

A ticket is *available* while no order holds it (``order_id`` is null), *reserved*
while an order holds it, and *sold* once its order completed. Sold is final (the
ticket keeps its ``order_id``) but for one event: the cancel of an operator's refund of
that very order, which puts the ticket on sale again.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone

from ticketing_shared.money import MoneyField
from ticketing_shared.versioning import VersionedModel

TITLE_MAX_LENGTH = 120
VENUE_MAX_LENGTH = 200
CITY_MAX_LENGTH = 100
DESCRIPTION_MAX_LENGTH = 2000
# The text search configuration of the search vector and of every query against it.
SEARCH_CONFIG = "english"
PRICE_MIN = Decimal("0.01")
PRICE_MAX = Decimal("1000000.00")


class TicketQuerySet(models.QuerySet["Ticket"]):
    def available(self) -> TicketQuerySet:
        # Sold tickets always keep their order (see the check constraint), so this is enough.
        return self.filter(order_id__isnull=True)

    def listed(self) -> TicketQuerySet:
        """Not unlisted by its seller (an unlisted ticket is gone for everyone: 404), or sold
        all the same: a sale that crossed the unlisting stands, and its buyer and seller see it."""
        return self.filter(Q(unlisted_at__isnull=True) | Q(sold_at__isnull=False))

    def on_sale(self) -> TicketQuerySet:
        """The public list: free, not unlisted, and not an event that has started."""
        return (
            self.available()
            .filter(unlisted_at__isnull=True)  # as the partial indexes say it (ON_SALE_INDEXED)
            .filter(Q(starts_at__isnull=True) | Q(starts_at__gt=timezone.now()))
        )

    def reserved(self) -> TicketQuerySet:
        return self.filter(order_id__isnull=False, sold_at__isnull=True)

    def sold(self) -> TicketQuerySet:
        return self.filter(sold_at__isnull=False)

    def newest_first(self) -> TicketQuerySet:
        return self.order_by("-created_at", "-id")


# The part of "on sale" an index can hold (``now()`` cannot be in an index predicate).
ON_SALE_INDEXED = Q(order_id__isnull=True, unlisted_at__isnull=True)


class Ticket(VersionedModel):
    class Status(models.TextChoices):
        AVAILABLE = "available", "Available"
        RESERVED = "reserved", "Reserved"
        SOLD = "sold", "Sold"

    class Category(models.TextChoices):
        CONCERT = "concert", "Concert"
        SPORTS = "sports", "Sports"
        THEATRE = "theatre", "Theatre"
        COMEDY = "comedy", "Comedy"
        FESTIVAL = "festival", "Festival"
        OTHER = "other", "Other"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    price = MoneyField(validators=[MinValueValidator(PRICE_MIN), MaxValueValidator(PRICE_MAX)])
    user_id = models.UUIDField(help_text="The seller (a user of the auth service).")
    order_id = models.UUIDField(null=True, blank=True, help_text="The order holding the ticket; empty when available.")
    sold_at = models.DateTimeField(null=True, blank=True, help_text="When the holding order completed.")
    owner_id = models.UUIDField(
        null=True, blank=True, help_text="Who owns it after a sale (the buyer) or a gift; empty while for sale."
    )
    starts_at = models.DateTimeField(null=True, blank=True, help_text="When the event starts; empty if not said.")
    venue = models.CharField(max_length=VENUE_MAX_LENGTH, blank=True, default="")
    city = models.CharField(max_length=CITY_MAX_LENGTH, blank=True, default="")
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.OTHER)
    description = models.TextField(max_length=DESCRIPTION_MAX_LENGTH, blank=True, default="")
    unlisted_at = models.DateTimeField(
        null=True, blank=True, help_text="When its seller took it off sale; an unlisted ticket is gone (404)."
    )
    # Full-text search over title (weight A), venue and city (B) and description (C), with
    # English stemming; PostgreSQL keeps it up to date (a stored generated column).
    search_vector = models.GeneratedField(
        expression=(
            SearchVector("title", weight="A", config=SEARCH_CONFIG)
            + SearchVector("venue", "city", weight="B", config=SEARCH_CONFIG)
            + SearchVector("description", weight="C", config=SEARCH_CONFIG)
        ),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TicketQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0) & Q(price__lte=PRICE_MAX), name="ticket_price_range"),
            models.CheckConstraint(condition=~Q(title=""), name="ticket_title_not_blank"),
            models.CheckConstraint(
                condition=Q(sold_at__isnull=True) | Q(order_id__isnull=False), name="ticket_sold_has_order"
            ),
        ]
        indexes = [
            # The public list: available tickets, newest first.
            models.Index(
                fields=["-created_at", "-id"], name="ticket_available_idx", condition=Q(order_id__isnull=True)
            ),
            models.Index(fields=["user_id", "-created_at"], name="ticket_owner_idx"),
            models.Index(fields=["order_id"], name="ticket_order_idx"),
            models.Index(
                fields=["owner_id", "-created_at"], name="ticket_owned_idx", condition=Q(owner_id__isnull=False)
            ),
            # Title search is a case-insensitive substring match (``icontains`` is
            # ``UPPER(title) LIKE UPPER(%term%)``), which this trigram index serves.
            GinIndex(OpClass(Upper("title"), name="gin_trgm_ops"), name="ticket_title_trgm_idx"),
            # Search: the words (GIN), then the filters and sort orders of the public list.
            GinIndex(fields=["search_vector"], name="ticket_search_idx"),
            models.Index(fields=["category", "starts_at"], name="ticket_category_idx", condition=ON_SALE_INDEXED),
            models.Index(fields=["city", "starts_at"], name="ticket_city_idx", condition=ON_SALE_INDEXED),
            models.Index(fields=["starts_at"], name="ticket_starts_idx", condition=ON_SALE_INDEXED),
            models.Index(fields=["price"], name="ticket_price_idx", condition=ON_SALE_INDEXED),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def status(self) -> str:
        if self.sold_at is not None:
            return self.Status.SOLD
        if self.order_id is not None:
            return self.Status.RESERVED
        return self.Status.AVAILABLE

    @property
    def has_started(self) -> bool:
        return self.starts_at is not None and self.starts_at <= timezone.now()

    @property
    def is_reserved(self) -> bool:
        """Held by an order, or sold: either way nobody may edit it."""
        return self.order_id is not None


class Reservation(models.Model):
    """An order this service has heard of for its tickets, as of the newest order event.

    Order events for one ticket arrive on three topics, so in any order: a late
    ``order.created`` of an order already cancelled, or of an older order replaced by
    a newer one, must not take the ticket back. These rows remember each order's last
    known state (by the order's own version) and its ``expires_at``, which orders
    the reservations of one ticket: a new order is only made after the previous one
    ended, so it expires later.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CANCELLED = "cancelled", "Cancelled"
        COMPLETE = "complete", "Complete"

    order_id = models.UUIDField(primary_key=True)
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="reservations",
                               help_text="The order's first ticket.")
    ticket_ids = models.JSONField(default=list, help_text="Every ticket of the order as of version.")
    user_id = models.UUIDField(null=True, blank=True, help_text="The buyer; unknown from older events.")
    status = models.CharField(max_length=20, choices=Status.choices)
    version = models.PositiveIntegerField(help_text="The order's version this row reflects.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Unknown until order.created arrives.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"order {self.order_id} ({self.status})"


# Gifts live in their own module; importing them here registers the model with the app.
from tickets.gifts import Gift, GiftEmail  # noqa: E402, F401
