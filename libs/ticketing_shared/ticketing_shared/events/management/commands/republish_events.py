"""Send a range of outbox events to Kafka again, for a consumer that lost its data.

The events keep their ids, so consumers that still have them skip them, and they
leave in their original order (the relay sends by sequence number). Only events
still in the outbox can be sent again: see ``OUTBOX_RETENTION_HOURS``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from ticketing_shared.events.models import OutboxEvent
from ticketing_shared.events.relay import drain_all


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from-seq", type=int, help="first sequence number (inclusive)")
        parser.add_argument("--to-seq", type=int, help="last sequence number (inclusive)")
        parser.add_argument("--since", help="only events that occurred at or after this ISO-8601 time")
        parser.add_argument("--type", action="append", dest="types", help="only this event type (repeatable)")
        parser.add_argument("--no-relay", action="store_true", help="only queue them; the running relay sends them")

    def handle(self, *args, from_seq, to_seq, since, types, no_relay, **options) -> None:
        events = OutboxEvent.objects.filter(published_at__isnull=False)
        if from_seq is not None:
            events = events.filter(seq__gte=from_seq)
        if to_seq is not None:
            events = events.filter(seq__lte=to_seq)
        if since:
            moment = parse_datetime(since)
            if moment is None:
                raise CommandError(f"--since {since!r} is not an ISO-8601 date and time")
            events = events.filter(occurred_at__gte=moment)
        if types:
            events = events.filter(type__in=types)
        if from_seq is None and to_seq is None and not since and not types:
            raise CommandError("Name a range: --from-seq/--to-seq, --since or --type")
        queued = events.update(published_at=None)
        self.stdout.write(f"{queued} events queued for publishing again")
        if no_relay or not queued:
            return
        with tqdm(total=queued, unit="event", desc="republishing", file=self.stderr._out) as bar:
            drain_all(on_progress=bar.update)
        self.stdout.write(self.style.SUCCESS("done; none pending"))
