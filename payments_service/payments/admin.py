"""Operators see payments with their Stripe ids and can refund one; the order replica is read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet

from payments import services
from payments.models import Order, Payment
from payments.stripe_gateway import InvalidRequest
from ticketing_shared.admin import ActionsOnlyAdmin, ReadOnlyAdmin
from ticketing_shared.errors import DomainError


@admin.register(Payment)
class PaymentAdmin(ActionsOnlyAdmin):
    list_display = ["id", "order_id", "stripe_id", "amount", "currency", "status", "refund_id", "created_at"]
    list_filter = ["status", "currency"]
    search_fields = ["id", "order__id", "stripe_id", "refund_id"]
    list_select_related = ["order"]
    date_hierarchy = "created_at"
    actions = ["refund"]

    @admin.action(description="Refund through Stripe", permissions=["change"])
    def refund(self, request, queryset: QuerySet[Payment]) -> None:
        """The same service as the automatic refund: Stripe first, then ``payment.refunded``."""
        for payment in queryset:
            try:
                refunded = services.payment_refund_request(payment_id=payment.pk)
            except (DomainError, InvalidRequest) as error:
                self.message_user(request, f"{payment}: not refunded: {error}", messages.ERROR)
            else:
                if refunded.status == Payment.Status.REFUNDED:
                    self.message_user(
                        request,
                        f"{refunded}: refunded ({refunded.refund_id}); the orders service cancels its order",
                        messages.SUCCESS,
                    )
                else:
                    self.message_user(request, f"{refunded}: refund under way", messages.INFO)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ["id", "user_id", "status", "price", "expires_at", "version", "payment_attempts"]
    list_filter = ["status"]
    search_fields = ["id", "user_id", "ticket_id"]
