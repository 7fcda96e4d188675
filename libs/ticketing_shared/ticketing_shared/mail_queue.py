"""Emails owed: written with the change they tell about, sent after commit, retried later.

A service keeps one row per email it owes (at most one per change, by a unique
constraint), with ``created_at``, ``sent_at``, ``attempts`` and ``last_error``. The row is
written in the transaction of the change, so a rolled-back change emails nobody and a
change applied twice emails once; :func:`send_after_commit` asks the service's Celery task
to send once the transaction commits, and beat runs the same task so that mail that failed
(SMTP down, worker restarted) goes out later. :func:`send_owed` is that task's body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from ticketing_shared.mail import Mail, send_mail

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
BATCH = 50


def send_after_commit(task: Any) -> None:
    """Queue ``task`` once the current transaction commits (a broker that is away is left
    to beat's next run)."""

    def nudge() -> None:
        try:
            task.delay()
        except Exception:
            logger.warning("Could not queue %s; the periodic run will send it", task.name, exc_info=True)

    transaction.on_commit(nudge)


def send_owed(rows: models.QuerySet, build: Callable[[Any], Mail | None]) -> int:
    """Send the unsent rows of ``rows``, each under a row lock (two workers never send one
    twice); returns how many were sent.

    ``build(row)`` makes the email, or returns ``None`` when there is nobody to write to:
    the row is then closed with that reason instead of being retried for ever.
    """
    sent = 0
    while True:
        with transaction.atomic():
            batch = list(
                rows.select_for_update(skip_locked=True, of=("self",))
                .filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
                .order_by("created_at")[:BATCH]
            )
            for row in batch:
                sent += _send(row, build)
        if len(batch) < BATCH:
            return sent


def _send(row: Any, build: Callable[[Any], Mail | None]) -> int:
    row.attempts += 1
    try:
        mail = build(row)
        if mail is None:  # e.g. a buyer from before addresses were kept
            row.last_error = "No email address known for this recipient"
            row.sent_at = timezone.now()
            row.save(update_fields=["attempts", "last_error", "sent_at"])
            return 0
        send_mail(mail)
    except Exception as error:
        logger.warning("Email %s failed: %s", row, error)
        row.last_error = str(error)[:1000]
        row.save(update_fields=["attempts", "last_error"])
        return 0
    row.sent_at = timezone.now()
    row.last_error = ""
    row.save(update_fields=["attempts", "last_error", "sent_at"])
    return 1
