"""Reads used by the API and the admin."""

from __future__ import annotations

from django.db.models import QuerySet

from orders.models import Order


def order_list(*, user_id: str) -> QuerySet[Order]:
    """The buyer's orders, newest first, with their tickets."""
    return Order.objects.filter(user_id=user_id).select_related("ticket").prefetch_related("items__ticket").order_by(
        "-created_at", "-id"
    )


def order_queryset() -> QuerySet[Order]:
    """Every order with its ticket, for lookups by id."""
    return Order.objects.select_related("ticket").prefetch_related("items__ticket")
