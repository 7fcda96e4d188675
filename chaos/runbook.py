"""The operators' runbook for a broker that lost its data, as the chaos suite runs it.

README.md, "Operating it" → "The broker lost its data", is the same procedure for
people: once the broker answers again, every service that publishes events sends
again, with ``manage.py republish_events --since <time>``, what its outbox published
since a moment safely before the loss. Consumers skip the events they had already
applied (by event id) and apply the ones the broker took with it.
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from devstack.infra import VENV_BIN, Keys
from devstack.profiles import Profile
from devstack.services import Service, service_env

COMMAND_TIMEOUT = 600.0
_QUEUED = re.compile(r"(\d+) events queued")


@dataclass(frozen=True)
class Republished:
    events: int
    failures: list[str]

    def note(self) -> str:
        text = f"republished {self.events} events"
        return text + ("; FAILED: " + "; ".join(self.failures) if self.failures else "")


def republish(services: list[Service], profile: Profile, keys: Keys, *, since: datetime,
              log_file: Path) -> Republished:
    """Run ``republish_events --since`` in every publishing service at once; their output goes to ``log_file``."""
    publishing = [service for service in services if service.backend and service.publishes_events]
    started = datetime.now()
    with ThreadPoolExecutor(len(publishing)) as pool:
        results = list(pool.map(lambda service: _republish(service, profile, keys, since), publishing))
    with log_file.open("a") as log:
        for service, (_, output) in zip(publishing, results, strict=True):
            log.write(f"--- {started.isoformat(timespec='seconds')} {service.name}: republish_events --since "
                      f"{since.isoformat()}\n{output}\n")
    failures = [f"{service.name}: {output.strip().splitlines()[-1] if output.strip() else 'no output'}"
                for service, (code, output) in zip(publishing, results, strict=True) if code != 0]
    events = sum(int(m.group(1)) for _, output in results if (m := _QUEUED.search(output)))
    return Republished(events, failures)


def _republish(service: Service, profile: Profile, keys: Keys, since: datetime) -> tuple[int, str]:
    argv = [str(VENV_BIN / "python"), "manage.py", "republish_events", "--since", since.isoformat()]
    try:
        result = subprocess.run(argv, cwd=service.path, env=service_env(service, profile, keys), text=True,
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired as error:
        return -1, f"timed out after {COMMAND_TIMEOUT:.0f} s\n{_text(error.stdout)}{_text(error.stderr)}"
    return result.returncode, result.stdout + result.stderr


def _text(output: str | bytes | None) -> str:
    """A timed-out run's output comes back as bytes whatever ``text`` said."""
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""
