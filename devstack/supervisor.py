"""Runs child processes in the foreground and guarantees none outlive the run.

Each child gets its own process group, so a stop reaches its workers too and a
terminal Ctrl-C reaches only us: we decide the order. Services stop before the
infrastructure they use, so they never log spurious connection errors on the way out.
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


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    stop_signal: signal.Signals
    infra: bool
    log_file: Path | None = None
    pump: threading.Thread | None = field(default=None, repr=False)

    def alive(self) -> bool:
        return self.process.poll() is None


class Supervisor:
    """Starts children and stops them all: services first, then infrastructure in reverse order.

    With ``log_dir`` each child writes to ``<log_dir>/<name>.log`` (tests keep the
    console for pytest); otherwise lines go to the console with a coloured prefix.
    """

    def __init__(self, *, log_dir: Path | None = None) -> None:
        self.children: list[Child] = []
        self.log_dir = log_dir
        self._colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        self._lock = threading.Lock()

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
        log_file = self.log_dir / f"{name}.log" if self.log_dir else None
        if log_file:
            log_file.parent.mkdir(parents=True, exist_ok=True)
        output: IO[bytes] | int = log_file.open("ab") if log_file else subprocess.PIPE
        try:
            process = subprocess.Popen(
                [str(arg) for arg in argv],
                cwd=cwd,
                env=env,
                user=user,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if not isinstance(output, int):
                output.close()  # the child holds its own copy
        child = Child(name, process, stop_signal, infra, log_file)
        self.children.append(child)
        if process.stdout:
            child.pump = threading.Thread(target=self._pump, args=(child, next(_COLOURS)), daemon=True)
            child.pump.start()
        return child

    def exited(self) -> list[Child]:
        """Children that stopped on their own: nothing is meant to exit before :meth:`stop`."""
        return [child for child in self.children if not child.alive()]

    def wait(self) -> int:
        """Block until Ctrl-C/SIGTERM (0) or until any child exits on its own (1)."""
        try:
            while not (exited := self.exited()):
                time.sleep(0.3)
            for child in exited:
                self.say(f"{child.name} exited unexpectedly (code {child.process.returncode}); stopping")
            return 1
        except KeyboardInterrupt:
            return 0

    def stop(self) -> None:
        """Stop everything; repeated signals are ignored meanwhile so cleanup always finishes."""
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
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
            try:
                os.killpg(child.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.process.wait()
            if child.pump:
                child.pump.join(2)

    def _pump(self, child: Child, colour: str) -> None:
        assert child.process.stdout
        for raw in child.process.stdout:
            self._write(child.name, colour, raw.decode(errors="replace").rstrip("\r\n"))

    def _write(self, name: str, colour: str, line: str) -> None:
        prefix = f"{name:<{PREFIX_WIDTH}} |"
        if self._colour:
            prefix = f"\033[{colour}m{prefix}\033[0m"
        with self._lock:
            sys.stdout.write(f"{prefix} {line}\n")
            sys.stdout.flush()
