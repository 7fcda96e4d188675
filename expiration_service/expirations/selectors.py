"""Reads for the admin and the operators' commands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone

from expirations.models import Expiration


@dataclass(frozen=True)
class Backlog:
    """Pending deadlines that should have fired by now."""

    count: int
    oldest: datetime | None

    @property
    def oldest_seconds_late(self) -> float:
        return (timezone.now() - self.oldest).total_seconds() if self.oldest else 0.0


def overdue_backlog() -> Backlog:
    """Pending rows past their deadline by more than two polls: is the beat or a worker down?"""
    grace = timedelta(seconds=2 * settings.EXPIRATION["POLL_INTERVAL_SECONDS"])
    summary = (
        Expiration.objects.pending()
        .filter(expires_at__lt=timezone.now() - grace)
        .aggregate(count=Count("order_id"), oldest=Min("expires_at"))
    )
    return Backlog(count=summary["count"], oldest=summary["oldest"])
