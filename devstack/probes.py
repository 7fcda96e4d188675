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


def port_taken(port: int) -> bool:
    """Something listens on it, or holds it bound (a server that failed to start would collide)."""
    if port_open(port):
        return True
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT leftover is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def ensure_ports_free(ports: dict[str, int], *, command: str = "make dev") -> None:
    """Fail before starting anything when a port is taken, naming the variable that moves it.

    ``ports`` maps each port's environment variable (``POSTGRES_PORT``) to its value.
    """
    busy = {variable: port for variable, port in ports.items() if port_taken(port)}
    if busy:
        lines = [f"port {port} is already in use (set by {variable})" for variable, port in busy.items()]
        example = " ".join(f"{variable}={_free_near(port, set(ports.values()))}" for variable, port in busy.items())
        raise StartupError(
            "\n".join(lines)
            + "\nAnother stack may be running: stop it, or pick free ports, e.g. "
            + f"`{example} {command}`"
        )


def _free_near(port: int, avoid: set[int]) -> int:
    """A free port a few hundred above ``port`` (below the ephemeral range where possible), for the hint."""
    for candidate in range(port + 100, min(port + 5000, 65535), 100):
        if candidate not in avoid and not port_taken(candidate):
            return candidate
    return port
