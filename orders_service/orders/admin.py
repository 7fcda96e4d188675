"""Operators' view of orders and ticket replicas.

Orders change only through the services (so every change is versioned and published):
the change form is read-only and cancelling is an action calling ``order_cancel``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from orders import services
from orders.models import Order, OrderItem, Ticket
from ticketing_shared.admin import ActionsOnlyAdmin, ReadOnlyAdmin
from ticketing_shared.errors import DomainError


class ExpiredFilter(admin.SimpleListFilter):
    """Pending orders past their window: the expiration event has not been applied (yet)."""

    title = "expired"
    parameter_name = "expired"

    def lookups(self, request, model_admin):
        return [("yes", "Expired, not yet cancelled")]

    def queryset(self, request, queryset: QuerySet[Order]) -> QuerySet[Order]:
        if self.value() == "yes":
            return queryset.filter(status__in=Order.PENDING, expires_at__lte=timezone.now())
        return queryset


class OrderItemInline(admin.TabularInline):
    """The order's tickets, read-only like the order."""

    model = OrderItem
    fields = ["ticket", "price", "live", "added_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ActionsOnlyAdmin):
    """View-only orders (a plain save would bypass versions and events); cancel as a list action."""

    list_display = [
        "id", "status", "cancel_reason", "user_id", "ticket", "price", "expires_at", "version", "created_at"
    ]
    list_filter = ["status", "cancel_reason", ExpiredFilter]
    list_select_related = ["ticket"]
    search_fields = ["id", "user_id", "items__ticket__id", "items__ticket__title"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "status",
        "cancel_reason",
        "user_id",
        "ticket",
        "price",
        "expires_at",
        "version",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields
    inlines = [OrderItemInline]
    actions = ["cancel"]

    @admin.action(description="Cancel selected orders (publishes order.cancelled)", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        """Cancelled as the operator (reason ``operator``); one refusal does not stop the others."""
        cancelled = 0
        for order_id in queryset.values_list("id", flat=True):
            try:
                order = services.order_cancel(order_id=order_id)
            except DomainError as exc:  # a complete order: reported, the others go on
                self.message_user(request, f"Order {order_id}: {exc.message}", messages.ERROR)
                continue
            cancelled += order.status == Order.Status.CANCELLED
        self.message_user(request, f"{cancelled} order(s) cancelled", messages.SUCCESS)


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    """Replicas are written by ticket events only."""

    list_display = ["id", "title", "price", "user_id", "version"]
    search_fields = ["id", "title", "user_id"]
