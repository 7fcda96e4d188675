from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ticketing_shared import heartbeat

# The consumer polls five times a second, the worker's timer touches every 5 s and beat
# passes at least every 5 s: a minute without a heartbeat is a stuck process, not a slow one.
DEFAULT_MAX_AGE_SECONDS = {"consumer": 60.0, "worker": 60.0, "beat": 60.0}


class Command(BaseCommand):
    help = (
        "Exit 0 when the process's heartbeat is fresh, 1 otherwise: the liveness probe of the "
        "consumer, the Celery worker and beat. Reads one file; touches no database or broker."
    )
    # A probe runs every few seconds: the system checks would only add to its start-up time.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("process", choices=sorted(DEFAULT_MAX_AGE_SECONDS))
        parser.add_argument(
            "--max-age",
            type=float,
            metavar="SECONDS",
            help="the oldest heartbeat that still counts as alive (default 60)",
        )

    def handle(self, *args: Any, process: str, max_age: float | None, **options: Any) -> None:
        limit = max_age if max_age is not None else DEFAULT_MAX_AGE_SECONDS[process]
        age = heartbeat.age(process)
        if age is None:
            raise CommandError(f"{process}: no heartbeat yet ({heartbeat.path(process)} does not exist)")
        if age > limit:
            raise CommandError(f"{process}: last heartbeat {age:.0f} s ago (more than {limit:g} s)")
        self.stdout.write(f"{process} alive (heartbeat {age:.0f} s ago)")
