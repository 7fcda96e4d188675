"""The supervisor with tiny ``python -c`` children: restarts, backoff, giving up, kill(), stop()."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from devstack import supervisor
from devstack.probes import wait_for
from devstack.supervisor import RestartPolicy, StartupError, Supervisor

T = TypeVar("T")
# Fast enough for a test, and never given up unless a test asks for it.
FAST = RestartPolicy(first_delay=0.05, max_delay=0.2, stable_seconds=60.0, start_seconds=0.0, start_attempts=3)
SLEEP = "import time; time.sleep(60)"


def eventually(check: Callable[[], T], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return result


def gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaped yet (dead all the same)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return status.rsplit(")", 1)[1].split()[0] == "Z"


def pids_in(file: Path) -> list[int]:
    return [int(line) for line in file.read_text().split()] if file.exists() else []


def python(code: str) -> list[str | Path]:
    return [sys.executable, "-c", code]


def with_grandchild(pids: Path) -> str:
    """A child that starts a grandchild in its process group; both append their pids to ``pids``."""
    return (
        "import os, subprocess, sys, time\n"
        f"log = {str(pids)!r}\n"
        f"child = subprocess.Popen([sys.executable, '-c', {SLEEP!r}])\n"
        "with open(log, 'a') as f: f.write(f'{os.getpid()}\\n{child.pid}\\n')\n"
        "time.sleep(60)\n"
    )


class Recorder:
    """A supervisor whose own messages are kept in a list."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.said: list[str] = []
        sup.say = self.said.append  # type: ignore[method-assign]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., Recorder]]:
    made: list[Recorder] = []

    def _make(policy: RestartPolicy = FAST) -> Recorder:
        recorder = Recorder(Supervisor(log_dir=tmp_path / "logs", policy=policy))
        made.append(recorder)
        return recorder

    yield _make
    for recorder in made:
        recorder.sup.stop()
        for child in recorder.sup.children:
            assert gone(child.process.pid), child


def test_a_child_that_dies_is_restarted_and_the_restart_is_logged(make, tmp_path):
    run = make()
    child = run.sup.start("sleeper", python(f"print('up', flush=True); {SLEEP}"))
    first = child.process.pid
    eventually(lambda: "up" in child.log_file.read_text())

    os.kill(first, signal.SIGKILL)

    eventually(lambda: child.restarts == 1 and child.alive())
    assert child.process.pid != first
    assert run.said == ["sleeper exited (code -9); restarting in 0.05 s (restart 1)"]
    assert run.sup.crashed() == ["sleeper"]
    # The log is appended to, with a mark where the new run begins.
    eventually(lambda: child.log_file.read_text().count("up") == 2)
    assert "----- devstack: restart 1 of sleeper -----" in child.log_file.read_text()


def test_the_delay_doubles_up_to_its_maximum(make):
    run = make()
    child = run.sup.start("crasher", python("raise SystemExit(3)"))

    eventually(lambda: child.restarts >= 4)

    delays = [line.split("restarting in ")[1].split(" s")[0] for line in run.said[:4]]
    assert delays == ["0.05", "0.1", "0.2", "0.2"]
    assert run.said[0] == "crasher exited (code 3); restarting in 0.05 s (restart 1)"
    assert child.crashes >= 4


def test_a_stable_run_resets_the_delay(make):
    run = make(RestartPolicy(first_delay=0.05, max_delay=1.0, stable_seconds=0.2, start_seconds=0.0))
    child = run.sup.start("napper", python("import time; time.sleep(0.3)"))

    eventually(lambda: child.restarts >= 3)

    assert all("restarting in 0.05 s" in line for line in run.said)


def test_a_child_that_cannot_start_is_given_up_and_fails_the_wait(make):
    run = make(RestartPolicy(first_delay=0.05, start_seconds=5.0, start_attempts=3))
    child = run.sup.start("broken", python("raise SystemExit(3)"))

    with pytest.raises(StartupError, match=r"broken exited with code 3 before the service answers, 3 times in a row"):
        wait_for(lambda: False, what="the service answers", watch=[child], timeout=10)

    assert child.gave_up
    assert child.restarts == 2
    assert run.said[-1] == "broken exited (code 3) 3 times within 5 s of starting; giving up on it"
    assert run.sup.wait() == 1


def test_a_child_that_once_started_is_restarted_however_often_it_fails(make, tmp_path):
    marker = tmp_path / "started-once"
    run = make(RestartPolicy(first_delay=0.05, max_delay=0.05, start_seconds=0.3, start_attempts=2))
    # The first run lives past start_seconds; every later one fails at once.
    code = (
        f"import os, sys, time\nif os.path.exists({str(marker)!r}): sys.exit(1)\n"
        f"open({str(marker)!r}, 'w')\ntime.sleep(0.5)"
    )
    child = run.sup.start("flaky", python(code))

    eventually(lambda: child.restarts >= 4)

    assert not child.gave_up


def test_kill_takes_the_whole_group_and_is_no_crash(make, tmp_path):
    pids = tmp_path / "pids"
    run = make()
    child = run.sup.start("parent", python(with_grandchild(pids)))
    parent, grandchild = eventually(lambda: pids_in(pids)[:2] if len(pids_in(pids)) >= 2 else None)

    assert run.sup.kill("parent") is True

    eventually(lambda: gone(parent) and gone(grandchild))
    eventually(lambda: child.restarts == 1 and len(pids_in(pids)) == 4)
    assert run.said == ["parent killed (SIGKILL); restarting in 0.05 s (restart 1)"]
    assert run.sup.crashed() == []
    with pytest.raises(KeyError):
        run.sup.kill("nobody")


def test_stop_leaves_no_process_behind(make, tmp_path, monkeypatch):
    monkeypatch.setattr(supervisor, "STOP_TIMEOUT", 1.0)
    pids = tmp_path / "pids"
    run = make()
    run.sup.start("parent", python(with_grandchild(pids)))
    deaf = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('deaf', flush=True)"
    stubborn = run.sup.start("stubborn", python(f"{deaf}; {SLEEP}"))
    run.sup.start("db", python(SLEEP), infra=True)
    eventually(lambda: len(pids_in(pids)) == 2 and "deaf" in stubborn.log_file.read_text())

    run.sup.stop()

    for pid in [*pids_in(pids), *(child.process.pid for child in run.sup.children)]:
        assert gone(pid), pid
    assert "stubborn did not stop within 1 s; killing it" in run.said
    # Services stop before the infrastructure, and nothing is restarted on the way.
    assert run.said.index("stopping db") > run.said.index("stopping parent")
    assert stubborn.restarts == 0
    assert run.sup.crashed() == []


@pytest.mark.parametrize("after", [0.0, 0.03, 0.07, 0.12, 0.2])
def test_stop_never_races_a_restart(make, tmp_path, after):
    """A child that exits at once is restarted all the time: stop() at any moment must still get every one."""
    pids = tmp_path / "pids"
    run = make(RestartPolicy(first_delay=0.01, max_delay=0.01, start_seconds=0.0))
    record_pid = f"import os\nwith open({str(pids)!r}, 'a') as f: f.write(f'{{os.getpid()}}\\n')"
    child = run.sup.start("blinker", python(record_pid))
    time.sleep(after)

    run.sup.stop()

    restarts = child.restarts
    time.sleep(0.1)
    assert child.restarts == restarts  # nothing started after stop()
    assert not run.sup._watcher or not run.sup._watcher.is_alive()
    for pid in [*pids_in(pids), child.process.pid]:
        assert gone(pid), pid
