"""Heartbeats of the long-running processes, for liveness probes.

The consumer, the Celery worker and beat each touch a file from inside their main loop
(``<HEARTBEAT_DIR>/<SERVICE_NAME>.<process>``); ``manage.py healthcheck <process>``
reads its age. A file's modification time is the whole protocol: writing it costs one
system call, and reading it needs neither the database nor the broker, so a probe
answers "is this process's loop still turning?" and nothing else. A process that is
alive but stuck (a deadlock, a hung call) stops touching its file and fails its probe.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

# The consumer's loop runs five times a second; the file needs no such precision.
MIN_INTERVAL_SECONDS = 1.0
_last_touched: dict[str, float] = {}


def path(process: str) -> Path:
    return Path(settings.HEARTBEAT_DIR) / f"{settings.SERVICE_NAME}.{process}"


def touch(process: str) -> None:
    """Record that ``process`` made progress; at most once a second, and never raises.

    A heartbeat that cannot be written must not take the process down with it: the
    probe will report the missing or stale file, which is the right outcome.
    """
    now = time.monotonic()
    if now - _last_touched.get(process, float("-inf")) < MIN_INTERVAL_SECONDS:
        return
    _last_touched[process] = now
    file = path(process)
    try:
        try:
            os.utime(file)
        except FileNotFoundError:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.touch()
    except OSError as exc:
        logger.debug("Could not write the heartbeat %s: %s", file, exc)


def age(process: str) -> float | None:
    """Seconds since ``process`` last touched its heartbeat, or None when it never did."""
    try:
        modified = path(process).stat().st_mtime
    except OSError:
        return None
    return max(0.0, time.time() - modified)
