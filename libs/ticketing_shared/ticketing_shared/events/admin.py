"""Event tooling every service's admin shows: the outbox, the inbox, parked events and dead letters."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.utils import timezone

from ticketing_shared.admin import ActionsOnlyAdmin, ReadOnlyAdmin
from ticketing_shared.events.consumer import replay_dead_letter
from ticketing_shared.events.models import DeadLetter, OutboxEvent, ParkedEvent, ProcessedEvent


class PublishedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("pending", "Pending"), ("published", "Published")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "pending":
            return queryset.filter(published_at__isnull=True)
        if self.value() == "published":
            return queryset.filter(published_at__isnull=False)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "type", "aggregateid", "occurred_at", "published_at"]
    list_filter = [PublishedFilter, "type"]
    search_fields = ["aggregateid", "id"]
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]

    def changelist_view(self, request, extra_context=None):
        oldest = OutboxEvent.objects.filter(published_at__isnull=True).order_by("seq").first()
        if oldest:
            age = (timezone.now() - oldest.occurred_at).total_seconds()
            self.message_user(request, f"Oldest pending event: {oldest} ({age:.0f} s old)", messages.WARNING)
        return super().changelist_view(request, extra_context)


@admin.register(ProcessedEvent)
class ProcessedEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "processed_at"]
    list_filter = ["type"]
    search_fields = ["event_id"]


@admin.register(ParkedEvent)
class ParkedEventAdmin(ActionsOnlyAdmin):
    """Events the consumer set aside until they can apply; it retries them on its own."""

    list_display = ["seq", "event_type", "key", "reason", "attempts", "first_seen_at", "next_attempt_at"]
    list_filter = ["reason", "event_type"]
    search_fields = ["event_id", "key", "error"]
    readonly_fields = [f.name for f in ParkedEvent._meta.fields]
    actions = ["retry_now"]

    @admin.action(description="Retry now (the consumer picks them up within a second)")
    def retry_now(self, request, queryset: QuerySet) -> None:
        count = queryset.update(next_attempt_at=timezone.now())
        self.message_user(request, f"{count} parked events due now", messages.SUCCESS)


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ["id", "event_type", "topic", "partition", "offset", "status", "attempts", "created_at"]
    list_filter = ["status", "event_type", "topic"]
    search_fields = ["event_id", "key", "error"]
    readonly_fields = [f.name for f in DeadLetter._meta.fields]
    actions = ["replay", "discard"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Replay through the handler")
    def replay(self, request, queryset: QuerySet) -> None:
        for dead_letter in queryset.filter(status=DeadLetter.Status.PENDING):
            try:
                replay_dead_letter(dead_letter)
            except Exception as exc:  # shown to the operator, the letter stays pending
                DeadLetter.objects.filter(pk=dead_letter.pk).update(error=f"Replay failed: {exc}")
                self.message_user(request, f"{dead_letter}: replay failed: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{dead_letter}: replayed", messages.SUCCESS)

    @admin.action(description="Discard (kept, marked discarded)")
    def discard(self, request, queryset: QuerySet) -> None:
        count = queryset.filter(status=DeadLetter.Status.PENDING).update(status=DeadLetter.Status.DISCARDED)
        self.message_user(request, f"{count} dead letters discarded", messages.SUCCESS)
