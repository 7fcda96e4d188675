"""The operators' runbook for a broker that lost its data, as the chaos suite runs it.

README.md, "Operating it" → "The broker lost its data", is the same procedure for
people: once the broker answers again, every service that publishes events sends
again, with ``manage.py republish_events --since <time>``, what its outbox published
since a moment safely before the loss. Consumers skip the events they had already
applied (by event id) and apply the ones the broker took with it.

"Safely before" is the oldest event that some consumer might not have applied when
the broker died. An operator estimates it (consumer lag, the time of the loss, at
worst the outbox's retention); the suite, which knows when it will kill the broker,
measures it just before (:class:`Watermark`): republishing everything since the run
began would be just as correct but resends more every time, and the run restarts the
broker twenty times.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from devstack.infra import VENV_BIN, Keys
from devstack.profiles import Profile
from devstack.services import Service, service_env
from ticketing_shared.events.schemas import SCHEMAS

COMMAND_TIMEOUT = 600.0
MARGIN = timedelta(seconds=5)  # clocks of one machine, but transactions commit after their event's time
_QUEUED = re.compile(r"(\d+) events queued")

# Who applies each event type: the event contract's own list. A consumer missing there
# could only make the suite resend too little, which the audit reports as lost events:
# it can fail a run, never pass a broken one. Unknown types count as needed.
CONSUMERS: dict[str, tuple[str, ...]] = {topic: schema.consumers for topic, schema in SCHEMAS.items()}


class Watermark:
    """The time of the oldest event some consumer may still need, read from the databases.

    That is the oldest event, published or still in its outbox (it may be sent any
    moment, then lost), that is missing from the inbox of a service that consumes it.
    An event older than the last watermark was applied everywhere then, and inboxes
    only grow, so each reading looks at newer events only, and at those still pending
    (a runbook queues old events again: once applied everywhere they hold nothing back).
    """

    def __init__(self, dsn: Callable[[str], str], publishers: list[str], since: datetime) -> None:
        self.dsn = dsn
        self.publishers = publishers
        self.last = since

    def read(self) -> datetime:
        with psycopg.connect(self.dsn("orders"), connect_timeout=5) as conn:
            oldest = conn.execute("SELECT now()").fetchone()[0]
        needed: dict[str, list[tuple[str, datetime]]] = {}  # consumer -> (event id, occurred_at)
        for publisher in self.publishers:
            with psycopg.connect(self.dsn(publisher), connect_timeout=5) as conn:
                rows = conn.execute("SELECT id::text, type, occurred_at FROM events_outbox "
                                    "WHERE occurred_at >= %s OR published_at IS NULL", [self.last]).fetchall()
            for event_id, event_type, occurred_at in rows:
                if event_type not in CONSUMERS:
                    oldest = min(oldest, occurred_at)
                for consumer in CONSUMERS.get(event_type, ()):
                    needed.setdefault(consumer, []).append((event_id, occurred_at))
        for consumer, events in needed.items():
            with psycopg.connect(self.dsn(consumer), connect_timeout=5) as conn:
                applied = {row[0] for row in conn.execute(
                    "SELECT event_id::text FROM events_processed WHERE event_id = ANY(%s::uuid[])",
                    [[event_id for event_id, _ in events]])}
            missing = [occurred_at for event_id, occurred_at in events if event_id not in applied]
            oldest = min([oldest, *missing])
        self.last = oldest - MARGIN
        return self.last


@dataclass(frozen=True)
class Republished:
    since: datetime
    events: int
    seconds: float
    failures: list[str]

    def note(self) -> str:
        text = f"runbook: {self.events} events queued again in {self.seconds:.1f} s (since {self.since:%H:%M:%S})"
        return text + ("; FAILED: " + "; ".join(self.failures) if self.failures else "")


def republish(services: list[Service], profile: Profile, keys: Keys, *, since: datetime, log_file: Path,
              relay: bool = True) -> Republished:
    """Run ``republish_events --since`` in every publishing service at once; their output goes to ``log_file``.

    ``relay=False`` (``--no-relay``) only queues the events and leaves the sending to
    the services' running relays instead of draining the outbox from the command.
    """
    publishing = [service for service in services if service.backend and service.publishes_events]
    started, clock = datetime.now(), time.monotonic()
    extra = [] if relay else ["--no-relay"]
    with ThreadPoolExecutor(len(publishing)) as pool:
        results = list(pool.map(lambda service: _republish(service, profile, keys, since, extra), publishing))
    with log_file.open("a") as log:
        for service, (_, output, seconds) in zip(publishing, results, strict=True):
            log.write(f"--- {started.isoformat(timespec='seconds')} {service.name}: republish_events --since "
                      f"{since.isoformat()} {' '.join(extra)} ({seconds:.1f} s)\n{output}\n")
    failures = [f"{service.name}: {output.strip().splitlines()[-1] if output.strip() else 'no output'}"
                for service, (code, output, _) in zip(publishing, results, strict=True) if code != 0]
    events = sum(int(m.group(1)) for _, output, _ in results if (m := _QUEUED.search(output)))
    return Republished(since, events, time.monotonic() - clock, failures)


def _republish(service: Service, profile: Profile, keys: Keys, since: datetime,
               extra: list[str]) -> tuple[int, str, float]:
    """Exit code, output and duration of one service's command."""
    argv = [str(VENV_BIN / "python"), "manage.py", "republish_events", "--since", since.isoformat(), *extra]
    started = time.monotonic()
    try:
        result = subprocess.run(argv, cwd=service.path, env=service_env(service, profile, keys), text=True,
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired as error:
        output = f"timed out after {COMMAND_TIMEOUT:.0f} s\n{_text(error.stdout)}{_text(error.stderr)}"
        return -1, output, time.monotonic() - started
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def _text(output: str | bytes | None) -> str:
    """A timed-out run's output comes back as bytes whatever ``text`` said."""
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


class BrokerRecovery:
    """What the broker fault calls around a restart: measure before, run the runbook after.

    The suite queues with ``--no-relay``: the services' relays send the events, as they
    send everything else, and the audit checks that every outbox drained. Waiting for
    the drain here would time the relays' own recovery from the broker loss (their
    in-flight batch has to fail first) twenty times over, rather than the runbook.
    """

    def __init__(self, services: list[Service], profile: Profile, keys: Keys, *, watermark: Watermark,
                 log_file: Path) -> None:
        self.services = services
        self.profile = profile
        self.keys = keys
        self.watermark = watermark
        self.log_file = log_file
        self._since = watermark.last

    def before_loss(self) -> None:
        self._since = self.watermark.read()

    def after_restart(self) -> str:
        return republish(self.services, self.profile, self.keys, since=self._since, log_file=self.log_file,
                         relay=False).note()
