"""Readiness checks: poll until something answers, failing fast when its process died."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable

from devstack.supervisor import Child, StartupError


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_status(url: str) -> int | None:
    """The status code of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_for(check: Callable[[], bool], *, what: str, watch: Iterable[Child] = (), timeout: float = 15.0) -> None:
    """Poll ``check``; give up early when one of the ``watch``ed processes cannot start.

    The supervisor restarts a child that exits, so one exit is not yet a failure; a child
    it has given up on (every run ended within its first seconds) is.
    """
    watch = list(watch)
    deadline = time.monotonic() + timeout
    while not check():
        for child in watch:
            if child.gave_up:
                where = f"; see {child.log_file}" if child.log_file else ""
                raise StartupError(
                    f"{child.name} exited with code {child.process.returncode} before {what}, "
                    f"{child.failed_starts} times in a row{where}"
                )
        if time.monotonic() > deadline:
            raise StartupError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def ensure_ports_free(ports: dict[str, int]) -> None:
    """Fail before starting anything when a port is taken, naming the variable that moves it."""
    busy = [f"{name} port {port}" for name, port in ports.items() if port_open(port)]
    if busy:
        raise StartupError(
            "already in use: " + ", ".join(busy) + " (another stack running? set <NAME>_PORT to move it)"
        )
