"""The outbox, the inbox of applied events, parked events and dead letters.

Outbox columns follow Debezium's outbox event router (``id``, ``aggregatetype``,
``aggregateid``, ``type``, ``payload``) so a CDC relay could replace ours.
"""

from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q


class OutboxEvent(models.Model):
    """An event waiting to be (or already) published; written in the same
    transaction as the change it describes."""

    seq = models.BigAutoField(primary_key=True, help_text="Insert order; the relay drains by it.")
    id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False, help_text="The event id.")
    aggregatetype = models.CharField(max_length=100)
    aggregateid = models.CharField(max_length=100, help_text="Kafka message key.")
    type = models.CharField(max_length=100, help_text="Event type, also the topic.")
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    headers = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    occurred_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "events_outbox"
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["seq"], name="outbox_pending_idx", condition=Q(published_at__isnull=True)),
            models.Index(fields=["published_at"], name="outbox_published_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.aggregateid} ({self.id})"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class ProcessedEvent(models.Model):
    """The inbox: ids of events already applied, inserted with their effect."""

    event_id = models.UUIDField(primary_key=True)
    type = models.CharField(max_length=100)
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "events_processed"
        ordering = ["-processed_at"]
        # The prune finds the oldest ids through it (ticketing_shared.events.inbox). Not BRIN:
        # pages the prune empties are filled again by new rows, and a BRIN range only widens.
        indexes = [models.Index(fields=["processed_at"], name="events_processed_at_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class PrunedEventCount(models.Model):
    """How many applied events of a type the inbox has forgotten (``ticketing_shared.events.inbox``):
    ``events_consumed_total`` adds them to the ids it still holds, so the counter never goes down."""

    type = models.CharField(max_length=100, primary_key=True)
    count = models.BigIntegerField(default=0)

    class Meta:
        db_table = "events_inbox_pruned"

    def __str__(self) -> str:
        return f"{self.type}: {self.count} pruned"


class DeadLetter(models.Model):
    """A message the consumer could not apply; kept until an operator acts on it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        REPLAYED = "replayed", "Replayed"
        DISCARDED = "discarded", "Discarded"

    fingerprint = models.CharField(
        max_length=100, unique=True, editable=False,
        help_text="The event id, or a digest of a message that has none: a redelivery updates its row, while a "
        "new message at a reused offset (a broker that lost its log) gets its own.",
    )
    topic = models.CharField(max_length=200)
    partition = models.IntegerField()
    offset = models.BigIntegerField()
    key = models.TextField(blank=True)
    value = models.TextField(blank=True, help_text="The message as received (invalid UTF-8 replaced).")
    headers = models.JSONField(default=dict, blank=True)
    event_id = models.UUIDField(null=True, blank=True)
    event_type = models.CharField(max_length=100, blank=True)
    error = models.TextField()
    attempts = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "events_dead_letter"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event_type or self.topic} @{self.partition}:{self.offset}"


class ParkedEvent(models.Model):
    """An event that cannot be applied yet, set aside so that its partition keeps flowing.

    The consumer parks an event whose predecessor has not arrived (``early``), whose
    handler failed (``failed``), or that comes after a parked event of the same
    aggregate on the same topic (``behind``: one aggregate's events still apply in
    order). The consumer retries the first parked event of each (topic, key) when it
    is due, and at once when another event of that key applies.
    """

    class Reason(models.TextChoices):
        EARLY = "early", "Waits for its predecessor"
        FAILED = "failed", "Its handler failed"
        BEHIND = "behind", "Behind a parked event of the same aggregate"

    seq = models.BigAutoField(primary_key=True, help_text="Arrival order; retried in this order per topic and key.")
    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=100)
    topic = models.CharField(max_length=200)
    partition = models.IntegerField()
    offset = models.BigIntegerField()
    key = models.TextField(blank=True, help_text="The message key: the aggregate id.")
    value = models.TextField()
    headers = models.JSONField(default=dict, blank=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Times its handler ran and could not apply it.")
    first_seen_at = models.DateTimeField(help_text="When it first arrived: an early event's wait counts from here.")
    next_attempt_at = models.DateTimeField()

    class Meta:
        db_table = "events_parked"
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["topic", "key", "seq"], name="parked_aggregate_idx"),
            models.Index(fields=["key"], name="parked_key_idx"),
            models.Index(fields=["next_attempt_at"], name="parked_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.key} ({self.get_reason_display().lower()})"
