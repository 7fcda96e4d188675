"""One row per (user, ``Idempotency-Key``): who is running it now, then the answer to replay."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """A client's key and what its request answered.

    ``in_progress`` while the request holding ``token`` runs (until ``lease_until``: a
    request that died lets the key go when its lease ends); ``done`` once the answer is
    kept, written in the same transaction as the effect wherever the effect is one
    transaction. The unique constraint is what makes concurrent duplicates wait or lose.
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    user_id = models.UUIDField(help_text="Whose key: keys are per user.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request's method, path and JSON body.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.IN_PROGRESS)
    token = models.UUIDField(null=True, blank=True, help_text="The request running it now.")
    lease_until = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "idempotency_keys"
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user_id", "key"], name="idempotency_one_key_per_user")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
