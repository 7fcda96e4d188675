"""The faults of a chaos run, one thread per kind, spread evenly over the run's window.

- ``consumer``, ``worker``, ``web``: SIGKILL of a random such process group through
  :meth:`Supervisor.kill` (a gunicorn master with its worker, a Celery worker with its
  embedded beat), as the OOM killer or a lost node would; the supervisor restarts it.
- ``beat``: SIGKILL of the beat process alone. Locally beat runs inside the Celery worker
  (``celery worker -B``, a forked child), and Celery never restarts an embedded beat that
  died: the worker goes on without a schedule. So, after a beat-less outage of a few
  seconds, the suite does what Kubernetes does for the chart's beat Deployment and
  restarts it: a SIGTERM (warm shutdown) to the worker that hosts it, which the
  supervisor starts again with a new beat. A stack that runs beat as its own supervised
  process (a ``<service>.beat`` child) gets a plain SIGKILL instead.
- ``broker``: SIGKILL of the broker. It keeps everything in memory, so it comes back
  empty: topics, messages and committed offsets are gone. Once it answers, the
  operators' runbook (``README.md``, "The broker lost its data") is run
  (:mod:`chaos.runbook`).

After each fault the thread waits until the process is back (or the runbook is done)
before its next fault, and records how long that took.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import psutil

from devstack.supervisor import Child, Supervisor

KINDS = ("consumer", "worker", "beat", "web", "broker")
BACK_TIMEOUT = 60.0
BEAT_OUTAGE = (1.0, 4.0)  # seconds a killed beat stays down before its "pod" is restarted
TERM_GRACE = 20.0  # a worker's warm shutdown after this is finished with SIGKILL


class BrokerRunbook(Protocol):
    def before_loss(self) -> None:
        """Called just before the broker is killed."""

    def after_restart(self) -> str:
        """Called once it answers again; returns a note for the report."""


@dataclass(frozen=True)
class Fault:
    kind: str
    target: str
    at: float  # seconds since the injector started
    recovery: float | None  # seconds until it was back; None: it was not, within BACK_TIMEOUT
    note: str = ""


class Injector:
    """``per_kind`` faults of every kind in :data:`KINDS` within ``window`` seconds.

    ``ready(child)`` says whether a restarted child serves again (a web process's
    ``/healthz``, the broker's metadata); ``broker`` is the runbook run around each
    broker restart.
    """

    def __init__(
        self,
        sup: Supervisor,
        *,
        per_kind: int,
        window: float,
        ready: Callable[[Child], bool],
        broker: BrokerRunbook,
        rng: random.Random,
        say: Callable[[str], None],
    ) -> None:
        self.sup = sup
        self.per_kind = per_kind
        self.window = window
        self.ready = ready
        self.broker = broker
        self.rng = rng
        self.say = say
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def start(self) -> None:
        self._started = time.monotonic()
        inject = {"consumer": self._kill_consumer, "worker": self._kill_worker, "beat": self._kill_beat,
                  "web": self._kill_web, "broker": self._restart_broker}
        for kind in KINDS:
            rng = random.Random(self.rng.random())  # one stream per thread: reproducible with the seed
            thread = threading.Thread(target=self._run, args=(kind, inject[kind], rng), name=f"chaos-{kind}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()

    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self._threads)

    def abort(self) -> None:
        self._abort.set()
        for thread in self._threads:
            thread.join(BACK_TIMEOUT)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {kind: sum(1 for f in self.faults if f.kind == kind) for kind in KINDS}

    def _run(self, kind: str, inject: Callable[[random.Random], Fault | None], rng: random.Random) -> None:
        for n in range(self.per_kind):
            slot = self._started + self.window * (n + rng.uniform(0.2, 0.8)) / self.per_kind
            if self._abort.wait(max(0.0, slot - time.monotonic())):
                return
            fault = None
            while fault is None and not self._abort.is_set():  # None: every candidate was down right now
                fault = inject(rng)
                if fault is None:
                    time.sleep(0.5)
            if fault is None:
                return
            with self._lock:
                self.faults.append(fault)
            back = f"back in {fault.recovery:.1f} s" if fault.recovery is not None else "NOT BACK"
            self.say(f"{kind} fault {n + 1}/{self.per_kind}: {fault.target} {back}"
                     + (f"; {fault.note}" if fault.note else ""))

    # -- the kinds -----------------------------------------------------------------

    def _kill_consumer(self, rng: random.Random) -> Fault | None:
        return self._kill_one(self._named(".consumer"), "consumer", rng)

    def _kill_worker(self, rng: random.Random) -> Fault | None:
        return self._kill_one(self._named(".worker"), "worker", rng)

    def _kill_web(self, rng: random.Random) -> Fault | None:
        return self._kill_one(self._named(".web"), "web", rng)

    def _restart_broker(self, rng: random.Random) -> Fault | None:
        self.broker.before_loss()
        at = time.monotonic()
        fault = self._kill_one(self._named("kafka"), "broker", rng)
        if fault is None or fault.recovery is None:
            return fault
        note = f"answered after {fault.recovery:.1f} s; {self.broker.after_restart()}"
        return Fault("broker", fault.target, fault.at, time.monotonic() - at, note)

    def _kill_beat(self, rng: random.Random) -> Fault | None:
        standalone = self._named(".beat")
        if standalone:
            return self._kill_one(standalone, "beat", rng)
        hosts = [(child, pid) for child in self._named(".worker") if (pid := embedded_beat(child)) is not None]
        if not hosts:
            return None
        worker, pid = rng.choice(hosts)
        at = time.monotonic()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        time.sleep(rng.uniform(*BEAT_OUTAGE))
        restarts = worker.restarts
        self.sup.kill(worker.name, signal.SIGTERM)  # the orchestrator restarting the beat
        if not self._wait(lambda: worker.restarts > restarts and worker.alive(), TERM_GRACE):
            self.sup.kill(worker.name, signal.SIGKILL)
        back = self._wait(lambda: worker.restarts > restarts and embedded_beat(worker) is not None, BACK_TIMEOUT)
        return Fault("beat", f"{worker.name} (beat pid {pid})", at - self._started,
                     time.monotonic() - at if back else None)

    # -- helpers -------------------------------------------------------------------

    def _named(self, suffix: str) -> list[Child]:
        return [child for child in self.sup.children if child.name.endswith(suffix)]

    def _kill_one(self, candidates: list[Child], kind: str, rng: random.Random) -> Fault | None:
        """SIGKILL a random running candidate and wait until it has been restarted and is ready."""
        running = [child for child in candidates if child.alive()]
        if not running:
            return None
        child = rng.choice(running)
        restarts = child.restarts
        at = time.monotonic()
        if not self.sup.kill(child.name, signal.SIGKILL):
            return None
        back = self._wait(lambda: child.restarts > restarts and child.alive() and self.ready(child), BACK_TIMEOUT)
        return Fault(kind, child.name, at - self._started, time.monotonic() - at if back else None)

    def _wait(self, check: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline or self._abort.is_set():
                return False
            time.sleep(0.1)
        return True


def embedded_beat(worker: Child) -> int | None:
    """The pid of the beat a ``celery worker -B`` forked, if it runs.

    With ``--pool threads`` the worker's only child process is its beat (a fork: same
    command line, so it is told apart by parentage, not by name).
    """
    if not worker.alive():
        return None
    try:
        children = psutil.Process(worker.process.pid).children()
        running = [p for p in children if p.status() != psutil.STATUS_ZOMBIE]
    except psutil.Error:
        return None
    return running[0].pid if len(running) == 1 else None
