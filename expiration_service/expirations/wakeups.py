"""Firing a deadline at its own time instead of at the next poll.

The beat polls once per ``POLL_INTERVAL_SECONDS``, so on its own a deadline fires up
to one interval late. Whenever a deadline is closer than one interval (a poll finds
it as the next one; an ``order.created`` brings one that close), a Celery task is
queued with its ``eta`` at that deadline, rounded up to ``WAKEUP_STEP_SECONDS`` so
deadlines close together share a run. A Redis key per step keeps the consumer and
every worker from queueing the same wake-up twice.

Wake-ups are only a speed-up. They live in Redis and in a worker's memory, so a
restart may lose them; the rows in PostgreSQL and the beat's poll are what make
every deadline fire, and firing is idempotent, so an extra run costs one query.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db.models import Min

from expirations import services
from expirations.models import Expiration

logger = logging.getLogger(__name__)


def request_wakeup(*, at: datetime) -> bool:
    """Queue a firing run for ``at`` if the next poll may come later; True if one was queued."""
    options = settings.EXPIRATION
    if not options["WAKEUPS"]:
        return False
    now = time.time()
    target = max(at.timestamp(), now)
    if target - now >= options["POLL_INTERVAL_SECONDS"]:
        return False  # a poll comes first, and asks again once the deadline is close
    step = options["WAKEUP_STEP_SECONDS"]
    slot = math.ceil(target / step)
    wake_at = slot * step
    try:
        if not cache.add(f"wakeup:{slot}", 1, timeout=math.ceil(wake_at - now) + options["POLL_INTERVAL_SECONDS"]):
            return False  # someone queued this step already
        fire_due.apply_async(
            eta=datetime.fromtimestamp(wake_at, UTC),
            expires=datetime.fromtimestamp(wake_at + options["POLL_INTERVAL_SECONDS"], UTC),
            retry=False,
        )
    except Exception as exc:  # Redis down: the poll still fires it, only later
        logger.warning("Could not queue an expiration wake-up: %s", exc)
        return False
    return True


@shared_task(name="expirations.fire_due", ignore_result=True)
def fire_due() -> int:
    """Fire every passed deadline (beat, every poll interval; and wake-ups in between)."""
    fired = services.expirations_fire_due()
    wake_for_next_deadline()
    return fired


def wake_for_next_deadline() -> bool:
    """After a run: queue a wake-up for the earliest pending deadline if it is close."""
    next_deadline = Expiration.objects.pending().aggregate(at=Min("expires_at"))["at"]
    return next_deadline is not None and request_wakeup(at=next_deadline)
