"""Orders, and the replica of the tickets they reserve.

An order holds one or more tickets (its items; the buyer's unpaid order is their
cart). The rule "at most one live order per ticket" lives in the database as a
partial unique index over the items of live orders, so no interleaving of requests
can break it.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ticketing_shared.money import MoneyField
from ticketing_shared.versioning import VersionedModel


class Ticket(VersionedModel):
    """A ticket as the tickets service last described it; written only by its events.

    ``version`` is the publisher's: ``ticket.updated`` version n applies only over n - 1.
    """

    id = models.UUIDField(primary_key=True)
    # No length limit: the tickets service decides what a valid title is.
    title = models.TextField()
    price = MoneyField()
    user_id = models.UUIDField(help_text="The seller.")
    # The event (release 2; empty for tickets whose events did not say): for the buyer's
    # emails, and ``starts_at`` and ``unlisted`` decide whether the ticket can be reserved.
    starts_at = models.DateTimeField(null=True, blank=True)
    venue = models.TextField(blank=True, default="")
    city = models.TextField(blank=True, default="")
    category = models.TextField(blank=True, default="")
    description = models.TextField(blank=True, default="")
    unlisted = models.BooleanField(default=False, help_text="Its seller took it off sale: it cannot be reserved.")

    class Meta:
        ordering = ["title"]

    @property
    def has_started(self) -> bool:
        """Its event has begun: nobody may reserve it any more."""
        return self.starts_at is not None and self.starts_at <= timezone.now()

    def __str__(self) -> str:
        return f"{self.title} ({self.price})"


class Order(VersionedModel):
    """A buyer's reservation of one or more tickets (:class:`OrderItem`), paid at once.

    ``ticket`` is the first of them (older clients and events name only that one);
    ``price`` is the total of the items' prices: what the buyer pays.

    ``version`` starts at 0 when the order is created and goes up by one on every
    change; it is the version carried by the order's events.
    """

    class Status(models.TextChoices):
        CREATED = "created", "Created"
        CANCELLED = "cancelled", "Cancelled"
        AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
        COMPLETE = "complete", "Complete"

    class CancelReason(models.TextChoices):
        EXPIRED = "expired", "Expired unpaid"
        BY_BUYER = "by_buyer", "Cancelled by the buyer"
        PRICE_CHANGED = "price_changed", "The seller changed the price"
        OPERATOR = "operator", "Cancelled by an operator"

    # Waiting for payment: these expire, can be cancelled by the buyer, can be paid.
    PENDING = (Status.CREATED, Status.AWAITING_PAYMENT)
    # Counted by the one-live-order-per-ticket index (an expired pending order still is,
    # until the next reservation or the expiration event cancels it).
    LIVE = (*PENDING, Status.COMPLETE)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.UUIDField(help_text="The buyer.")
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="orders",
                               help_text="The order's first ticket.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    expires_at = models.DateTimeField()
    price = MoneyField(help_text="The total of its tickets' prices when they were reserved: what the buyer pays.")
    cancel_reason = models.CharField(
        max_length=20,
        choices=CancelReason.choices,
        blank=True,
        default="",
        help_text="Why a cancelled order was cancelled; empty otherwise (and for orders cancelled before reasons).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["created", "cancelled", "awaiting_payment", "complete"]),
                name="orders_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(cancel_reason="")
                | Q(status="cancelled",
                    cancel_reason__in=["expired", "by_buyer", "price_changed", "operator"]),
                name="orders_only_cancelled_have_a_cancel_reason",
            ),
        ]
        indexes = [models.Index(fields=["user_id", "-created_at"], name="orders_by_buyer_idx")]

    def __str__(self) -> str:
        return f"Order {self.id} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in self.PENDING

    @property
    def is_expired(self) -> bool:
        """Past its window while still unpaid: it no longer holds its ticket."""
        return self.is_pending and self.expires_at <= timezone.now()

    def change_status(self, status: Order.Status) -> None:
        """Write the new status over the version we read (optimistic concurrency)."""
        self.status = status
        self.updated_at = timezone.now()
        self.save_versioned(update_fields=["status", "updated_at"])

    def ticket_items(self) -> list[OrderItem]:
        """The order's items in the order they were added (the first is ``ticket``); uses
        ``prefetch_related("items__ticket")`` when the query made one, or the items the
        order was just made with (:meth:`know_items`)."""
        known = self.__dict__.get("_known_items")
        if known is not None:
            return list(known)
        if "items" in getattr(self, "_prefetched_objects_cache", {}):
            return list(self.items.all())
        return list(self.items.select_related("ticket").order_by("added_at", "id"))

    def know_items(self, items: list[OrderItem]) -> None:
        """The items this order was made with, in order, each with its ticket loaded: what
        :meth:`ticket_items` answers without a query until the instance is reloaded."""
        self._known_items = list(items)

    def refresh_from_db(self, *args, **kwargs) -> None:
        self.__dict__.pop("_known_items", None)
        super().refresh_from_db(*args, **kwargs)

    @property
    def first_item(self) -> OrderItem | None:
        """The item of ``ticket``, the first ticket (what clients from before carts see)."""
        items = self.ticket_items()
        return next((item for item in items if item.ticket_id == self.ticket_id), items[0] if items else None)

    def cancel(self, reason: Order.CancelReason) -> None:
        """Write ``cancelled`` and why, over the version we read; its tickets are free again."""
        self.status, self.cancel_reason = self.Status.CANCELLED, reason
        self.updated_at = timezone.now()
        self.save_versioned(update_fields=["status", "cancel_reason", "updated_at"])
        self.items.update(live=False)

    def touch(self) -> None:
        """A change of its items: a new version (and its event) over the version we read."""
        self.updated_at = timezone.now()
        self.save_versioned(update_fields=["ticket", "price", "updated_at"])


class OrderItem(models.Model):
    """One ticket of an order, at the price it was reserved at.

    ``live`` mirrors "the order is live" (created, awaiting payment or complete): the
    partial unique index over it is the one-live-order-per-ticket rule. A ticket
    taken out of an unpaid order loses its row; a cancelled order keeps its rows,
    no longer live.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="order_items")
    price = MoneyField(help_text="The ticket's price when it was reserved.")
    live = models.BooleanField(default=True, help_text="The order is created, awaiting payment or complete.")
    added_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"],
                condition=Q(live=True),
                name="orders_one_live_order_per_ticket",
                violation_error_message="Ticket is already reserved",
            ),
            models.UniqueConstraint(fields=["order", "ticket"], name="orders_ticket_once_per_order"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} in order {self.order_id}"


# -- buyer emails (orders.notifications) ---------------------------------------------


class BuyerContact(models.Model):
    """Where to email a buyer: the address of their token when they last reserved.

    The access token carries the email; other services never call the auth service per
    request, so the orders service keeps the last address it saw for each buyer.
    """

    user_id = models.UUIDField(primary_key=True)
    email = models.EmailField(max_length=254)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.email


class Notification(models.Model):
    """An email owed to a buyer, written in the transaction of the change it tells about (like
    the outbox), and sent after commit by a Celery task; beat retries what failed. At most one
    per order and kind, so a change applied twice never emails twice."""

    class Kind(models.TextChoices):
        PAID = "paid", "Order paid"
        EXPIRED = "expired", "Reservation expired"

    id = models.BigAutoField(primary_key=True)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["order", "kind"], name="orders_one_notification_per_kind")]
        indexes = [models.Index(fields=["created_at"], name="orders_notification_unsent_idx",
                                condition=Q(sent_at__isnull=True))]

    def __str__(self) -> str:
        return f"{self.kind} email for order {self.order_id}"
