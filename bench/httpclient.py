"""The benchmark's HTTP clients: keep-alive sessions that count what went wrong and retry only what is safe.

A server may close an idle keep-alive connection just as a client reuses it for the next
request (gunicorn closes them after ``--keep-alive`` seconds); the client then sees
``RemoteDisconnected`` or a reset. Such a request is sent again only when sending it twice
cannot do anything twice: a GET, or a POST with an ``Idempotency-Key`` (the orders and
payments services answer a repeat with the first answer). Anything else is counted as
a connection error and reported, and the caller decides.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from typing import Any

import requests

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
ATTEMPTS = 4
TIMEOUT = (5.0, 60.0)  # connect, read


class Phase:
    """What one step of the benchmark saw: latencies per kind of call, statuses, errors."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.connection_errors = 0
        self.requests = 0

    def record(self, kind: str, status: int, seconds: float) -> None:
        """Kept under ``kind`` and under ``"<kind> <status>"`` (the latency of the answers that paid...)."""
        with self.lock:
            self.requests += 1
            self.latencies[kind].append(seconds * 1000)
            self.latencies[f"{kind} {status}"].append(seconds * 1000)
            self.statuses[kind][status] += 1

    def connection_error(self) -> None:
        with self.lock:
            self.connection_errors += 1

    @property
    def server_errors(self) -> int:
        return sum(count for by_status in self.statuses.values() for status, count in by_status.items()
                   if status >= 500)

    def errors_line(self) -> str:
        return f"connection errors: {self.connection_errors}, server errors: {self.server_errors}"


def idempotency_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


class Client:
    """One simulated user (its own keep-alive connections; use it from one thread at a time)."""

    def __init__(self, token: str | None = None) -> None:
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, phase: Phase, method: str, url: str, *, kind: str, json: Any = None,
             headers: dict[str, str] | None = None, params: dict[str, str] | None = None) -> requests.Response | None:
        """The response, or None when the request could not be sent (and was not safe to send again).

        Every failed attempt is one connection error of ``phase``; a retry keeps the same
        headers, so an ``Idempotency-Key`` makes it the same request to the server.
        """
        retry = method in SAFE_METHODS or bool(headers and "Idempotency-Key" in headers)
        for attempt in range(ATTEMPTS):
            started = time.perf_counter()
            try:
                response = self.session.request(method, url, json=json, headers=headers, params=params,
                                                timeout=TIMEOUT)
            except (requests.ConnectionError, requests.Timeout):
                phase.connection_error()
                if not retry or attempt == ATTEMPTS - 1:
                    return None
                time.sleep(0.05 * (attempt + 1))
                continue
            phase.record(kind, response.status_code, time.perf_counter() - started)
            return response
        return None
