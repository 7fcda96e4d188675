"""gunicorn hooks every web process shares: ``gunicorn -c python:ticketing_shared.gunicorn_conf``.

With ``PROMETHEUS_MULTIPROC_DIR`` set, each gunicorn worker writes its metrics to files
there and ``/metrics`` adds them up (:mod:`ticketing_shared.metrics`), so a scrape is
right whichever worker answers it. The folder is emptied when gunicorn starts (figures of
an earlier run, such as a restarted container's, are not ours) and a worker that exits
is marked dead, so its live gauges stop counting while its counters keep their totals.
Command-line flags (``--workers``, ``--threads``...) still apply on top of this file.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import multiprocess


def multiproc_dir() -> Path | None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(directory) if directory else None


def on_starting(server) -> None:
    """Before any worker: an empty metrics folder (created if missing)."""
    directory = multiproc_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server, worker) -> None:
    """In the master, once a worker is gone (it exited, crashed or was killed)."""
    if multiproc_dir() is not None:
        multiprocess.mark_process_dead(worker.pid)
