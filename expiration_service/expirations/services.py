"""Every write of the expiration service: scheduling, standing down and firing deadlines."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Now

from expirations.models import Expiration
from ticketing_shared.events import publish
from ticketing_shared.events.schemas import ExpirationComplete

logger = logging.getLogger(__name__)


def expiration_schedule(*, order_id: uuid.UUID, expires_at: datetime) -> Expiration:
    """Remember that ``order_id`` expires at ``expires_at`` (on ``order.created``).

    Safe to repeat: the primary key turns a second insert into a no-op. An order whose
    end (cancelled or paid) was heard of first keeps that status; it only learns its
    deadline here, for the record.
    """
    with transaction.atomic():
        Expiration.objects.bulk_create([Expiration(order_id=order_id, expires_at=expires_at)], ignore_conflicts=True)
        Expiration.objects.filter(order_id=order_id, expires_at__isnull=True).update(
            expires_at=expires_at, updated_at=Now()
        )
        expiration = Expiration.objects.get(order_id=order_id)
    return expiration


def expiration_stand_down(*, order_id: uuid.UUID, reason: Expiration.Status) -> Expiration:
    """The order ended before its deadline (``reason``: cancelled or paid): fire nothing for it.

    A row that already fired keeps ``fired``; for an order not heard of yet a row is
    created in the final state, so its late ``order.created`` schedules nothing.
    The conditional update waits on the row lock of a poll firing this very row and
    then sees ``fired``, so the two never both win.
    """
    if reason not in (Expiration.Status.ORDER_CANCELLED, Expiration.Status.ORDER_COMPLETED):
        raise ValueError(f"Not a reason to stand an expiration down: {reason}")
    with transaction.atomic():
        Expiration.objects.bulk_create([Expiration(order_id=order_id, status=reason)], ignore_conflicts=True)
        Expiration.objects.pending().filter(order_id=order_id).update(status=reason, updated_at=Now())
        return Expiration.objects.get(order_id=order_id)


def expirations_fire_due(
    *,
    batch_size: int | None = None,
    max_seconds: float | None = None,
    order_ids: list[uuid.UUID] | None = None,
) -> int:
    """Publish ``expiration.complete`` once for every passed deadline; return how many fired.

    Works through due rows a batch per transaction until none is left (or
    ``max_seconds`` is up: the next run carries on). Any number of these may run at
    once: each claims its rows with ``FOR UPDATE SKIP LOCKED``. ``order_ids`` limits
    the run to those orders (the admin's "fire now").
    """
    options = settings.EXPIRATION
    batch_size = batch_size or options["BATCH_SIZE"]
    deadline = time.monotonic() + (max_seconds or options["MAX_RUN_SECONDS"])
    fired = 0
    while True:
        claimed = _fire_batch(limit=batch_size, order_ids=order_ids)
        fired += claimed
        if claimed < batch_size or time.monotonic() >= deadline:
            break
    if fired:
        logger.info("Fired %d expirations", fired)
    return fired


def _fire_batch(*, limit: int, order_ids: list[uuid.UUID] | None) -> int:
    """Claim up to ``limit`` due rows, mark them fired and write their events, in one transaction.

    Rows locked by another poll are skipped, not waited for; a row marked fired is
    no longer due, so neither a concurrent poll nor a rerun after a crash past the
    commit can publish for it again. A crash before the commit leaves it pending.
    """
    with transaction.atomic():
        due = Expiration.objects.due()
        if order_ids is not None:
            due = due.filter(order_id__in=order_ids)
        claimed = list(
            due.select_for_update(skip_locked=True).order_by("expires_at").values_list("order_id", flat=True)[:limit]
        )
        if not claimed:
            return 0
        Expiration.objects.filter(order_id__in=claimed).update(
            status=Expiration.Status.FIRED, fired_at=Now(), updated_at=Now()
        )
        for order_id in claimed:
            publish(ExpirationComplete(order_id=order_id))
    return len(claimed)
