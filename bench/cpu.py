"""Where the CPU goes: the seconds each kind of process of the stack (and this client) spent
during a phase and until the stack settled after it (the events it caused handled
downstream), per request, so the report can say which part of a reservation costs what.

Processes are found under the stack's supervisor (``BENCH_STACK_PID``) and named by what
they are: ``<service> web`` (every gunicorn worker of a service together), ``<service>
consumer``, ``<service> worker`` (Celery: the outbox relay and tasks), ``postgres``,
``broker``, ``redis``, ``stripe double``, and ``bench client`` (this process).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from pathlib import Path

import psutil

SERVICE_FOLDERS = {"auth_service": "auth", "tickets_service": "tickets", "orders_service": "orders",
                   "payments_service": "payments", "expiration_service": "expiration", "web_client": "web"}


def label(process: psutil.Process) -> str:
    """What a process of the stack is, in the report's words."""
    command = " ".join(process.cmdline())
    for needle, name in (("postgres", "postgres"), ("tansu", "broker"), ("redis-server", "redis"),
                         ("stripe_double", "stripe double"), ("localstripe", "stripe double")):
        if needle in command:
            return name
    service = SERVICE_FOLDERS.get(Path(process.cwd()).name, Path(process.cwd()).name)
    if "gunicorn" in command:
        return f"{service} web"
    if "consume_events" in command:
        return f"{service} consumer"
    if "celery" in command:
        return f"{service} worker"
    return f"{service} other"


class CpuMeter:
    """``start()`` then ``stop()``: CPU seconds by label in between (a process born meanwhile
    counts whole; one that ended meanwhile is not counted)."""

    def __init__(self) -> None:
        root = os.environ.get("BENCH_STACK_PID")
        self.root = psutil.Process(int(root)) if root else None
        self.me = psutil.Process()
        self._before: dict[int, tuple[str, float]] = {}

    def _now(self) -> dict[int, tuple[str, float]]:
        processes = [self.me, *(([self.root, *self.root.children(recursive=True)]) if self.root else [])]
        seen = {}
        for process in processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                name = "bench client" if process.pid == self.me.pid else label(process)
                seen[process.pid] = (name, times.user + times.system)
        return seen

    def start(self) -> None:
        self._before = self._now()

    def stop(self) -> Counter[str]:
        spent: Counter[str] = Counter()
        for pid, (name, seconds) in self._now().items():
            spent[name] += seconds - self._before.get(pid, (name, 0.0))[1]
        return spent


def per_request(spent: Counter[str], requests: int, *, top: int = 8) -> str:
    """``total 64.1 ms: orders web 13.2, tickets consumer 8.1, ...`` (milliseconds per request)."""
    if not requests or not spent:
        return "n/a"
    total = sum(spent.values()) * 1000 / requests
    parts = [f"{name} {seconds * 1000 / requests:.1f}" for name, seconds in spent.most_common(top) if seconds > 0]
    rest = sum(seconds for _, seconds in spent.most_common()[top:]) * 1000 / requests
    return f"total {total:.1f} ms: " + ", ".join(parts) + (f", others {rest:.1f}" if rest >= 0.05 else "")


def settle(*, quiet_cores: float = 0.3, timeout: float = 90.0) -> float:
    """Wait until the stack (this client aside) uses less than ``quiet_cores`` over a second:
    the events a phase caused are all handled, so the next phase does not pay for them.
    Returns the seconds waited."""
    meter, started = CpuMeter(), time.monotonic()
    while time.monotonic() - started < timeout:
        meter.start()
        time.sleep(1.0)
        spent = meter.stop()
        busy = sum(seconds for name, seconds in spent.items() if name != "bench client")
        if busy < quiet_cores:
            break
        print(f"\r  waiting for the stack to settle: {busy:.2f} cores busy", end="", flush=True)
    waited = time.monotonic() - started
    if waited > 1.5:
        print(f"\r  the stack settled in {waited:.0f} s{' ' * 30}")
    return waited
