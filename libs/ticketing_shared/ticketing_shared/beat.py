"""The Celery beat scheduler of every service: django-celery-beat's, with a heartbeat.

Kept out of :mod:`ticketing_shared.celery_app` because django-celery-beat's scheduler
imports models, which needs Django set up; Celery imports this module by name
(``beat_scheduler``) only once beat starts, when it is.
"""

from __future__ import annotations

from typing import Any

from django_celery_beat.schedulers import DatabaseScheduler

from ticketing_shared import heartbeat


class HeartbeatScheduler(DatabaseScheduler):
    """Touches the "beat" heartbeat after every scheduler pass.

    Beat passes at least every ``max_interval`` (5 s) and the outbox relay is due every
    few seconds, so a heartbeat older than a minute means beat is stuck, not idle.
    """

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval = super().tick(*args, **kwargs)
        heartbeat.touch("beat")
        return interval
