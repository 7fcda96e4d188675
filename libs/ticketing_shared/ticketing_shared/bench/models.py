from __future__ import annotations

from django.db import models


class BaselineRow(models.Model):
    """One row per baseline request: an insert as small as a write can be."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "bench_baseline_row"
