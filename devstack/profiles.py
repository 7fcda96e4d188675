"""Profiles keep ``make dev`` and ``make test`` apart: own ports, own data directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_DEFAULT_PORTS = {
    # Below Linux's ephemeral range (32768+), so a client socket in TIME_WAIT never holds one.
    "dev": {
        "POSTGRES": 15432, "REDIS": 16379, "KAFKA": 19092, "STRIPE": 8420, "WEB": 8000,
        "AUTH": 8001, "TICKETS": 8002, "ORDERS": 8003, "PAYMENTS": 8004, "EXPIRATION": 8005,
    },
    "test": {
        "POSTGRES": 15433, "REDIS": 16380, "KAFKA": 19093, "STRIPE": 18420, "WEB": 18000,
        "AUTH": 18001, "TICKETS": 18002, "ORDERS": 18003, "PAYMENTS": 18004, "EXPIRATION": 18005,
    },
}

# WEB_WORKERS and WEB_THREADS size every service's gunicorn; the benchmark sets its own.
_DEFAULT_SETTINGS = {
    "dev": {"ORDER_EXPIRATION_SECONDS": "900", "WEB_WORKERS": "1", "WEB_THREADS": "4"},
    "test": {"ORDER_EXPIRATION_SECONDS": "12", "WEB_WORKERS": "1", "WEB_THREADS": "4"},
}


@dataclass(frozen=True)
class Profile:
    """Where one stack lives. ``fresh`` profiles wipe their data on every start."""

    name: str
    ports: dict[str, int]
    fresh: bool
    env_prefix: str

    @property
    def data_dir(self) -> Path:
        """``DEVSTACK_DATA_DIR`` moves it, so two test runs with different ports can coexist."""
        return Path(os.environ.get(self.env_prefix + "DEVSTACK_DATA_DIR", ROOT / ".data" / self.name))

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def port(self, key: str) -> int:
        """``key`` is ``POSTGRES``, ``AUTH``...; read from ``[TEST_]<KEY>_PORT`` at load time."""
        return self.ports[key.upper()]

    def port_variable(self, key: str) -> str:
        """The environment variable that sets a port: ``POSTGRES_PORT``, ``TEST_AUTH_PORT``..."""
        return f"{self.env_prefix}{key.upper()}_PORT"

    def setting(self, name: str) -> str:
        """A non-port setting such as ``ORDER_EXPIRATION_SECONDS``, with this profile's prefix."""
        return os.environ.get(self.env_prefix + name, _DEFAULT_SETTINGS[self.name][name])


def load(name: str) -> Profile:
    prefix = "TEST_" if name == "test" else ""
    ports = {
        key: int(os.environ.get(f"{prefix}{key}_PORT", default))
        for key, default in _DEFAULT_PORTS[name].items()
    }
    return Profile(name=name, ports=ports, fresh=name == "test", env_prefix=prefix)


def chaos_report_file() -> Path:
    """Where the chaos run (its own stack's data folder) writes its report, which ``make test``
    prints again after its table when the run failed."""
    return Path(os.environ.get("CHAOS_DATA_DIR") or ROOT / ".data" / "chaos") / "report.txt"
