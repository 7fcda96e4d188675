"""Fire every passed deadline now, like one beat poll (for operators and cron).

Safe beside the running beat and workers: rows are claimed with SKIP LOCKED and
each fires exactly once.
"""

from django.core.management.base import BaseCommand

from expirations import services


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=None, help="rows per transaction")

    def handle(self, *args, batch_size: int | None, **options) -> None:
        fired = services.expirations_fire_due(batch_size=batch_size)
        self.stdout.write(f"{fired} expiration(s) fired")
