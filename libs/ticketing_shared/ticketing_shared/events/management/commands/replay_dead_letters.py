"""Put pending dead letters back through their handlers (the admin's "replay", in bulk).

Oldest first, in passes: letters of one aggregate were not necessarily dead-lettered in the
order of their versions (two early events run out of time in whatever order the sweeps meet
them), so a letter that cannot apply yet (its predecessor is a letter further down) is tried
again in the next pass, as long as the pass before applied something."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from tqdm import tqdm

from ticketing_shared.events.consumer import replay_dead_letter
from ticketing_shared.events.models import DeadLetter


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--type", action="append", dest="types", help="only this event type (repeatable)")
        parser.add_argument("--id", action="append", type=int, dest="ids", help="only this dead letter (repeatable)")

    def handle(self, *args, types, ids, **options) -> None:
        letters = DeadLetter.objects.filter(status=DeadLetter.Status.PENDING).order_by("id")
        if types:
            letters = letters.filter(event_type__in=types)
        if ids:
            letters = letters.filter(id__in=ids)
        applied = skipped = 0
        pending, failures = list(letters), []
        while pending:
            failures = []
            for letter in tqdm(pending, unit="letter", desc="replaying", file=self.stderr._out):
                try:
                    if replay_dead_letter(letter):
                        applied += 1
                    else:
                        skipped += 1
                except Exception as exc:  # left pending: tried again in the next pass, if there is one
                    failures.append((letter, exc))
            if len(failures) == len(pending):
                break  # nothing moved: another pass would fail the same way
            pending = [letter for letter, _ in failures]
        for letter, exc in failures:
            self.stderr.write(f"dead letter {letter.id} ({letter.event_type}) failed again: {exc}")
        failed = len(failures)
        summary = f"{applied} applied, {skipped} already applied, {failed} failed (still pending)"
        self.stdout.write(self.style.SUCCESS(summary) if not failed else self.style.WARNING(summary))
