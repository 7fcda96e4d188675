"""Operators' view of pending and fired expirations.

Rows change only through the services (so every firing writes its event): the
form is view-only, and "fire now" is an action calling ``expirations_fire_due``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from expirations import selectors, services
from expirations.models import Expiration
from ticketing_shared.admin import ActionsOnlyAdmin


class OverdueFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("passed", "Passed, not fired yet"), ("future", "Still ahead")]

    def queryset(self, request, queryset: QuerySet[Expiration]) -> QuerySet[Expiration]:
        if self.value() == "passed":
            return queryset.filter(status=Expiration.Status.PENDING, expires_at__lte=timezone.now())
        if self.value() == "future":
            return queryset.filter(status=Expiration.Status.PENDING, expires_at__gt=timezone.now())
        return queryset


@admin.register(Expiration)
class ExpirationAdmin(ActionsOnlyAdmin):
    list_display = ["order_id", "status", "expires_at", "fired_at", "lateness", "created_at"]
    list_filter = ["status", OverdueFilter]
    search_fields = ["order_id"]
    date_hierarchy = "expires_at"
    readonly_fields = ["order_id", "status", "expires_at", "fired_at", "lateness", "created_at", "updated_at"]
    fields = readonly_fields
    actions = ["fire_now"]

    @admin.display(description="late by")
    def lateness(self, expiration: Expiration) -> str:
        seconds = expiration.lateness_seconds
        return "-" if seconds is None else f"{seconds:.3f} s"

    def changelist_view(self, request: HttpRequest, extra_context=None):
        backlog = selectors.overdue_backlog()
        if backlog.count:
            self.message_user(
                request,
                f"{backlog.count} expirations overdue, the oldest {backlog.oldest_seconds_late:.0f} s late: "
                "are the Celery beat and worker running?",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    @admin.action(description="Fire the selected ones whose deadline has passed", permissions=["change"])
    def fire_now(self, request: HttpRequest, queryset: QuerySet[Expiration]) -> None:
        order_ids = list(queryset.values_list("order_id", flat=True))
        fired = services.expirations_fire_due(order_ids=order_ids)
        self.message_user(
            request, f"{fired} expiration(s) fired; pending ones still ahead are left for their time", messages.SUCCESS
        )
