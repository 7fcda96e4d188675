"""``python -m devstack dev`` as a newcomer meets it: a taken port, then Ctrl-C on a running stack.

Each test runs the real command on ports of its own (chosen free by the kernel) and a
data directory under ``tmp_path``, so it never meets another stack on this machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.probes import port_taken
from devstack.profiles import ROOT, load
from devstack.supervisor import STOP_TIMEOUT

KEYS = list(load("dev").ports)  # POSTGRES, REDIS, ... WEB, AUTH ...
STARTUP_TIMEOUT = 420.0  # migrations on a 2-core machine shared with other test runs
# Two services cover every kind of process: gunicorn with its workers (both), Celery
# worker and beat, and a Kafka consumer (tickets).
SERVICES = "auth,tickets"


def free_ports(count: int) -> list[int]:
    """Ports nothing holds right now: bound to 0 together, so they are distinct."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def dev_env(data_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.endswith("_PORT") and key != "DEVSTACK_EXTERNAL"}
    env.update({f"{key}_PORT": str(port) for key, port in ports.items()})
    env.update({"DEVSTACK_DATA_DIR": str(data_dir), "DEVSTACK_SERVICES": SERVICES, "NO_COLOR": "1",
                "PYTHONUNBUFFERED": "1"})
    return env


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children start their own sessions, so a group would miss them)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return "(gone)"


class Output:
    """Collects a process's output in a thread, so a test can wait for a line without blocking on it."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout
        for line in process.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, needle: str, process: subprocess.Popen[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            assert process.poll() is None, f"devstack dev exited ({process.returncode}) before {needle!r}:\n{self.text}"
            assert time.monotonic() < deadline, f"no {needle!r} within {timeout:.0f} s:\n{self.text[-4000:]}"
            time.sleep(0.2)

    def close(self, process: subprocess.Popen[str]) -> None:
        self._thread.join(5)
        assert process.stdout
        process.stdout.close()


@pytest.fixture
def ports() -> dict[str, int]:
    return dict(zip(KEYS, free_ports(len(KEYS)), strict=True))


@pytest.fixture
def occupied() -> Iterator[int]:
    """A port held by a listening socket, as another program would hold it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def run_dev(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "devstack", "dev"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_taken_port_is_named_with_the_variable_that_moves_it_and_nothing_starts(tmp_path, ports, occupied):
    ports["REDIS"] = occupied
    process = run_dev(dev_env(tmp_path / "data", ports))
    output, _ = process.communicate(timeout=60)

    assert process.returncode == 1, output
    assert f"port {occupied} is already in use (set by REDIS_PORT)" in output
    assert "REDIS_PORT=" in output.split("e.g.", 1)[1], output  # a ready-made command with a free port
    assert "make dev" in output
    assert "Traceback" not in output
    assert "POSTGRES_PORT" not in output  # only the taken one is named
    assert not (tmp_path / "data").exists(), "something was started before the ports were checked"


def test_ctrl_c_on_a_running_stack_leaves_no_process_behind(tmp_path, ports):
    process = run_dev(dev_env(tmp_path / "data", ports))
    output = Output(process)
    try:
        output.wait_for("The ticketing stack is up", process, STARTUP_TIMEOUT)
        children = descendants(process.pid)
        assert len(children) >= 8, f"expected the infrastructure and both services, found {children}"

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=4 * STOP_TIMEOUT) == 0, output.text[-4000:]
    finally:
        if process.poll() is None:  # a failed assertion above: do not leave the stack to the next test
            process.send_signal(signal.SIGINT)
            process.wait(timeout=4 * STOP_TIMEOUT)
        output.close(process)

    survivors = {pid: command_line(pid) for pid in children if alive(pid)}
    for pid in survivors:  # a failure must not leave them to the rest of the run
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert survivors == {}, f"still running after Ctrl-C: {survivors}"
    still_bound = [f"{key}_PORT={port}" for key, port in ports.items() if port_taken(port)]
    assert still_bound == [], still_bound
    assert "started in" in output.text

