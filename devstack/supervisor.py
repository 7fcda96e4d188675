"""Runs child processes in the foreground, restarts those that die, and guarantees none outlive the run.

Each child gets its own process group, so a stop reaches its workers too and a
terminal Ctrl-C reaches only us: we decide the order. Services stop before the
infrastructure they use, so they never log spurious connection errors on the way out.

A child that exits on its own while the stack runs is started again after a delay that
doubles from one restart to the next, as Kubernetes does (CrashLoopBackOff), so the
local stack recovers from a crash the way the deployed one does. A child that cannot
start at all (it never outlives its first seconds) is given up instead of looping, so a
broken service still stops ``make dev`` with its error.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PREFIX_WIDTH = 19  # "expiration.consumer"
STOP_TIMEOUT = 10.0
WATCH_INTERVAL = 0.2
# Signals that leave a process running: a kill() with one of them is no exit we caused.
_NON_FATAL = {signal.SIGSTOP, signal.SIGCONT, signal.SIGTSTP, signal.SIGWINCH, signal.SIGCHLD, signal.SIGURG}
_COLOURS = itertools.cycle(["36", "33", "32", "35", "34", "31", "96", "93", "92", "95", "94", "91"])


class StartupError(RuntimeError):
    """Something did not come up; the message says what and where to look."""


def raise_on_signals() -> None:
    """Make SIGTERM and SIGHUP behave like Ctrl-C: unwind to the ``finally`` that stops children.

    SIGINT is set too: a shell starts background jobs with it ignored, and Python then
    leaves it ignored, so ``make dev &`` could not be stopped with Ctrl-C-like signals.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


@dataclass(frozen=True)
class RestartPolicy:
    """When a child that exited on its own is started again (the defaults mirror Kubernetes)."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    # A run at least this long resets the delay to first_delay.
    stable_seconds: float = 60.0
    # A child whose runs all ended within start_seconds has failed to start; after
    # start_attempts such runs it is given up (deliberate kills do not count).
    start_seconds: float = 10.0
    start_attempts: int = 3


@dataclass(frozen=True)
class _Launch:
    """What it takes to start a child again."""

    argv: list[str]
    cwd: Path | None
    env: dict[str, str] | None
    user: str | None
    colour: str


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]  # replaced by each restart
    stop_signal: signal.Signals
    infra: bool
    log_file: Path | None = None
    pump: threading.Thread | None = field(default=None, repr=False)
    restarts: int = 0  # times started again after an exit
    crashes: int = 0  # exits nobody asked for: neither stop() nor Supervisor.kill()
    gave_up: bool = False  # it could not start (RestartPolicy.start_attempts): no more restarts
    launch: _Launch | None = field(default=None, repr=False)
    started_at: float = field(default_factory=time.monotonic, repr=False)
    ever_up: bool = field(default=False, repr=False)  # once outlived RestartPolicy.start_seconds
    failed_starts: int = field(default=0, repr=False)
    delay: float = field(default=0.0, repr=False)  # of the last restart; 0 before the first
    restart_at: float | None = field(default=None, repr=False)
    killed: subprocess.Popen[bytes] | None = field(default=None, repr=False)  # the process kill() signalled

    def alive(self) -> bool:
        return self.process.poll() is None


class Supervisor:
    """Starts children, restarts those that exit, and stops them all: services first, then
    infrastructure in reverse order.

    With ``log_dir`` each child writes to ``<log_dir>/<name>.log``, appended to across
    restarts (tests keep the console for pytest); otherwise lines go to the console with a
    coloured prefix. A watcher thread does the restarts; :meth:`stop` stops it first.
    """

    def __init__(self, *, log_dir: Path | None = None, policy: RestartPolicy | None = None) -> None:
        self.children: list[Child] = []
        self.log_dir = log_dir
        self.policy = policy or RestartPolicy()
        self._colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        self._lock = threading.Lock()  # one console line at a time
        # Held while a child's process is replaced or signalled, so the watcher never
        # starts a process that stop() has already passed by.
        self._state = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def say(self, message: str) -> None:
        """A line from the supervisor itself, kept apart from the children's output."""
        self._write("devstack", "1", message)

    def start(
        self,
        name: str,
        argv: list[str | Path],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        infra: bool = False,
    ) -> Child:
        launch = _Launch([str(arg) for arg in argv], cwd, env, user, next(_COLOURS))
        log_file = self.log_dir / f"{name}.log" if self.log_dir else None
        with self._state:
            child = Child(name, self._spawn(launch, log_file), stop_signal, infra, log_file, launch=launch)
            self.children.append(child)
            self._pump(child)
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="devstack-restarts", daemon=True)
                self._watcher.start()
        return child

    def crashed(self) -> list[str]:
        """Names of the children that exited on their own at least once (each was restarted)."""
        return [child.name for child in self.children if child.crashes]

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> bool:
        """Signal a child's whole process group, as the OOM killer or a node failure would.

        The child is then restarted like after a crash but not counted in :meth:`crashed`.
        False when it was not running (between an exit and its restart).
        """
        with self._state:
            child = next((c for c in self.children if c.name == name), None)
            if child is None:
                raise KeyError(f"no child named {name}; there are {[c.name for c in self.children]}")
            if not child.alive():
                return False
            if sig not in _NON_FATAL:
                child.killed = child.process
            try:
                os.killpg(child.process.pid, sig)
            except ProcessLookupError:
                return False
            return True

    def wait(self) -> int:
        """Block until Ctrl-C/SIGTERM (0); children that exit meanwhile are restarted.

        Returns 1 only when a child could not start at all (:attr:`Child.gave_up`).
        """
        try:
            while not (failed := [child for child in self.children if child.gave_up]):
                time.sleep(0.3)
            self.say(f"{', '.join(child.name for child in failed)} could not start; stopping")
            return 1
        except KeyboardInterrupt:
            return 0

    def stop(self) -> None:
        """Stop everything; repeated signals are ignored meanwhile so cleanup always finishes."""
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            with self._state:  # from here on no child is started again
                self._stopping.set()
            if self._watcher:
                self._watcher.join()
            self._terminate([c for c in self.children if not c.infra])
            for child in reversed([c for c in self.children if c.infra]):
                self._terminate([child])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def tail(self, lines: int = 15) -> str:
        """The last lines of every child's log file, for a failure report."""
        parts = []
        for child in self.children:
            if child.log_file and child.log_file.exists():
                text = child.log_file.read_text(errors="replace").splitlines()[-lines:]
                if text:
                    parts.append(f"--- {child.log_file} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts)

    def _spawn(self, launch: _Launch, log_file: Path | None) -> subprocess.Popen[bytes]:
        if log_file:
            log_file.parent.mkdir(parents=True, exist_ok=True)
        output: IO[bytes] | int = log_file.open("ab") if log_file else subprocess.PIPE
        try:
            return subprocess.Popen(
                launch.argv,
                cwd=launch.cwd,
                env=launch.env,
                user=launch.user,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if not isinstance(output, int):
                output.close()  # the child holds its own copy

    def _watch(self) -> None:
        """The restart loop: notice exits, schedule restarts with backoff, perform them."""
        while not self._stopping.wait(WATCH_INTERVAL):
            with self._state:
                if self._stopping.is_set():
                    return
                now = time.monotonic()
                for child in self.children:
                    if child.gave_up:
                        continue
                    if child.restart_at is None and not child.alive():
                        self._exited(child, now)
                    elif child.restart_at is not None and now >= child.restart_at:
                        self._restart(child, now)

    def _exited(self, child: Child, now: float) -> None:
        """Record an exit and schedule the restart, or give up on a child that cannot start."""
        _kill_group(child.process)  # strays of the group: gunicorn's workers, the embedded beat
        policy, code = self.policy, child.process.returncode
        ran = now - child.started_at
        deliberate = child.killed is child.process
        how = f"killed ({_signal_name(-code)})" if deliberate and code < 0 else f"exited (code {code})"
        if not deliberate:
            child.crashes += 1
        if ran >= policy.start_seconds:
            child.ever_up = True
        elif not child.ever_up and not deliberate:
            child.failed_starts += 1
            if child.failed_starts >= policy.start_attempts:
                child.gave_up = True
                within = f"within {policy.start_seconds:g} s of starting"
                self.say(f"{child.name} {how} {child.failed_starts} times {within}; giving up on it")
                return
        first = child.delay == 0 or ran >= policy.stable_seconds
        child.delay = policy.first_delay if first else min(child.delay * 2, policy.max_delay)
        child.restart_at = now + child.delay
        self.say(f"{child.name} {how}; restarting in {child.delay:g} s (restart {child.restarts + 1})")

    def _restart(self, child: Child, now: float) -> None:
        assert child.launch
        child.restart_at = None
        if child.log_file:  # where one run ends and the next begins, for whoever reads the log
            with child.log_file.open("a") as log:
                log.write(f"----- devstack: restart {child.restarts + 1} of {child.name} -----\n")
        try:
            process = self._spawn(child.launch, child.log_file)
        except OSError as error:
            child.gave_up = True
            self.say(f"{child.name} could not be started again: {error}; giving up on it")
            return
        child.process, child.started_at = process, now
        child.restarts += 1
        self._pump(child)

    def _terminate(self, children: list[Child]) -> None:
        """Ask politely, wait, then kill the whole group, including any stray grandchild."""
        running = [c for c in children if c.alive()]
        for child in running:
            self.say(f"stopping {child.name}")
            child.process.send_signal(child.stop_signal)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in running:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop within {STOP_TIMEOUT:.0f} s; killing it")
        for child in children:
            _kill_group(child.process)
            child.process.wait()
            if child.pump:
                child.pump.join(2)

    def _pump(self, child: Child) -> None:
        """Copy the child's current process's output to the console, prefixed, in a thread."""
        process = child.process
        if not process.stdout:
            return
        colour = child.launch.colour if child.launch else "0"

        def copy() -> None:
            assert process.stdout
            with process.stdout:
                for raw in process.stdout:
                    self._write(child.name, colour, raw.decode(errors="replace").rstrip("\r\n"))

        child.pump = threading.Thread(target=copy, name=f"devstack-{child.name}", daemon=True)
        child.pump.start()

    def _write(self, name: str, colour: str, line: str) -> None:
        prefix = f"{name:<{PREFIX_WIDTH}} |"
        if self._colour:
            prefix = f"\033[{colour}m{prefix}\033[0m"
        with self._lock:
            sys.stdout.write(f"{prefix} {line}\n")
            sys.stdout.flush()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL what is left of a child's process group (its id is the child's pid)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
