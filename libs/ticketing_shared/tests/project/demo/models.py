from django.db import models

from ticketing_shared.versioning import VersionedModel


class Widget(VersionedModel):
    """A replicated aggregate, written only by event handlers."""

    id = models.UUIDField(primary_key=True)
    name = models.CharField(max_length=100)


class AppliedLog(models.Model):
    """One row per handler run: lets tests count applications."""

    event_id = models.UUIDField()
    type = models.CharField(max_length=100)
    version = models.IntegerField(null=True)
    seq = models.BigAutoField(primary_key=True)
