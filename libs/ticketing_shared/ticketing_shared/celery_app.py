"""The Celery app of a service: Redis broker, tasks autodiscovered, outbox relay on beat."""

from __future__ import annotations

import os

from celery import Celery


def make_celery_app(service_name: str) -> Celery:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    app = Celery(service_name)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    app.autodiscover_tasks(["ticketing_shared.events"])

    from django.conf import settings

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
        **settings.CELERY_BEAT_SCHEDULE,
    }
    return app
