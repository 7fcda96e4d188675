"""The Celery app of a service: Redis broker, tasks autodiscovered, outbox relay on beat,
heartbeats of the worker and beat for their liveness probes."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, bootsteps

from ticketing_shared import heartbeat

# How often a worker touches its heartbeat; the probe allows a minute (healthcheck).
WORKER_HEARTBEAT_SECONDS = 5.0


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Touches the "worker" heartbeat from the consumer's timer.

    The timer fires from the worker's event loop (with a Redis broker even under
    ``--pool threads``), so the heartbeat stops while that loop is wedged or
    reconnecting to its broker, and busy task threads do not hold it back.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None

    def start(self, parent: Any) -> None:
        heartbeat.touch("worker")
        self.tref = parent.timer.call_repeatedly(WORKER_HEARTBEAT_SECONDS, heartbeat.touch, ("worker",))

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            parent.timer.cancel(self.tref)
            self.tref = None

    shutdown = stop


def make_celery_app(service_name: str) -> Celery:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    app = Celery(service_name)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    app.autodiscover_tasks(["ticketing_shared.events"])
    app.steps["consumer"].add(WorkerHeartbeat)

    from django.conf import settings

    # django-celery-beat's DatabaseScheduler with a heartbeat, so neither `celery beat`
    # nor the worker's embedded beat (`-B`) needs --scheduler.
    app.conf.beat_scheduler = "ticketing_shared.beat:HeartbeatScheduler"

    # Registered in code: django-celery-beat's DatabaseScheduler syncs these at start.
    app.conf.beat_schedule = {
        "relay-outbox": {
            "task": "events.relay_outbox",
            "schedule": settings.OUTBOX["RELAY_INTERVAL_SECONDS"],
            # A tick nobody picked up in time is dropped, not queued behind a stalled worker
            # (django-celery-beat's DatabaseScheduler reads expire_seconds, Celery expires).
            "options": {
                "expires": max(1.0, settings.OUTBOX["RELAY_INTERVAL_SECONDS"] * 2),
                "expire_seconds": max(1, round(settings.OUTBOX["RELAY_INTERVAL_SECONDS"] * 2)),
            },
        },
        "prune-outbox": {"task": "events.prune_outbox", "schedule": 3600.0},
        "prune-inbox": {"task": "events.prune_inbox", "schedule": 3600.0},
        **settings.CELERY_BEAT_SCHEDULE,
    }
    return app
