"""Operators' view of tickets. Edits go through the same services as the API, so they publish."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect

from ticketing_shared.admin import ReadOnlyAdmin
from tickets import services
from tickets.gifts import Gift
from tickets.models import Reservation, Ticket


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            (Ticket.Status.AVAILABLE, "Free"),
            (Ticket.Status.RESERVED, "Held by an order"),
            (Ticket.Status.SOLD, "Sold"),
        ]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        by_status = {
            Ticket.Status.AVAILABLE: queryset.available,
            Ticket.Status.RESERVED: queryset.reserved,
            Ticket.Status.SOLD: queryset.sold,
        }
        chosen = by_status.get(self.value())
        return chosen() if chosen else queryset


class TicketForm(forms.ModelForm):
    class Meta:
        model = Ticket
        fields = ["title", "price", "user_id"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.instance.pk and self.instance.is_reserved:
            raise forms.ValidationError(services.RESERVED_MESSAGE)
        return cleaned


class ReservationInline(admin.TabularInline):
    model = Reservation
    extra = 0
    can_delete = False
    fields = ["order_id", "status", "version", "expires_at", "created_at", "updated_at"]
    readonly_fields = fields
    verbose_name_plural = "Orders heard of for this ticket"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    form = TicketForm
    list_display = ["title", "price", "status", "user_id", "order_id", "version", "created_at"]
    list_filter = [StatusFilter, "created_at"]
    search_fields = ["title"]
    search_help_text = "Words of the title, or a ticket, owner or order id."
    readonly_fields = ["id", "order_id", "status", "sold_at", "version", "created_at", "updated_at"]
    inlines = [ReservationInline]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [*self.readonly_fields, "user_id"] if obj else self.readonly_fields

    def get_search_results(self, request, queryset, search_term):
        """An id matches the ticket, its owner or the order holding it; anything else searches titles."""
        try:
            an_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(Q(pk=an_id) | Q(user_id=an_id) | Q(order_id=an_id)), False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the orders service replicates tickets: they are never deleted

    def save_model(self, request: HttpRequest, obj: Ticket, form, change: bool) -> None:
        if not change:
            created = services.ticket_create(user_id=obj.user_id, title=obj.title, price=obj.price)
            # The admin goes on with ``obj`` (history entry, redirect): make it the saved ticket.
            obj.pk, obj.version, obj.created_at = created.pk, created.version, created.created_at
            obj._state.adding, obj._state.db = False, created._state.db
            return
        try:
            services.ticket_update(ticket=obj, title=obj.title, price=obj.price)
        except (services.TicketReserved, services.TicketChanged) as error:
            request._ticket_not_saved = True  # type: ignore[attr-defined]
            self.message_user(request, error.message, messages.ERROR)

    def log_change(self, request, obj, message):
        if not getattr(request, "_ticket_not_saved", False):
            return super().log_change(request, obj, message)
        return None

    def response_change(self, request, obj):
        if getattr(request, "_ticket_not_saved", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ["order_id", "ticket", "status", "version", "expires_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["ticket__title"]
    readonly_fields = ["order_id", "ticket", "status", "version", "expires_at", "created_at", "updated_at"]

    def get_search_results(self, request, queryset, search_term):
        try:
            an_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(Q(pk=an_id) | Q(ticket_id=an_id)), False



@admin.register(Gift)
class GiftAdmin(ReadOnlyAdmin):
    """Gift links, read-only: they change only through the owner's and the recipient's calls."""

    list_display = ["ticket", "status", "from_user_id", "to_user_id", "expires_at", "created_at", "claimed_at"]
    list_filter = ["status"]
    list_select_related = ["ticket"]
    search_fields = ["ticket__id", "ticket__title", "from_user_id", "to_user_id"]
    # Not the code: it is the secret of the link, and operators do not need it.
    fields = ["id", "ticket", "status", "from_user_id", "to_user_id", "expires_at", "created_at", "claimed_at",
              "revoked_at"]
