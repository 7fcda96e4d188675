"""gunicorn hooks every web process shares: ``gunicorn -c python:ticketing_shared.gunicorn_conf``.

With ``PROMETHEUS_MULTIPROC_DIR`` set, each gunicorn worker writes its metrics to files
there and ``/metrics`` adds them up (:mod:`ticketing_shared.metrics`), so a scrape is
right whichever worker answers it. The folder is emptied when gunicorn starts (figures of
an earlier run, such as a restarted container's, are not ours) and a worker that exits
is marked dead, so its live gauges stop counting while its counters keep their totals.
Command-line flags (``--workers``, ``--threads``...) still apply on top of this file.

A request gunicorn refuses before the application sees it (a request line or a header
too long, a malformed header) is answered in the API's error shape, not gunicorn's HTML
page: no path answers HTML for an error (docs/api.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gunicorn import util
from prometheus_client import multiprocess


def write_error_as_json(sock, status_int: int, reason: str, mesg: str) -> None:
    """Stands in for ``gunicorn.util.write_error``, which its workers call for these refusals."""
    body = json.dumps({"errors": [{"message": mesg or reason}]}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = write_error_as_json


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
