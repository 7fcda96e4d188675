"""The outbox, the inbox of applied events, and dead letters.

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

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class DeadLetter(models.Model):
    """A message the consumer could not apply; kept until an operator acts on it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        REPLAYED = "replayed", "Replayed"
        DISCARDED = "discarded", "Discarded"

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
        constraints = [
            models.UniqueConstraint(fields=["topic", "partition", "offset"], name="dead_letter_message_unique")
        ]

    def __str__(self) -> str:
        return f"{self.event_type or self.topic} @{self.partition}:{self.offset}"
