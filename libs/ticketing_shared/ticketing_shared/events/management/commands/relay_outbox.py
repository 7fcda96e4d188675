from django.core.management.base import BaseCommand
from tqdm import tqdm

from ticketing_shared.events.models import OutboxEvent
from ticketing_shared.events.relay import drain_all


class Command(BaseCommand):
    help = "Publish every pending outbox event now (the Celery beat does this continuously)."

    def handle(self, *args, **options):
        pending = OutboxEvent.objects.filter(published_at__isnull=True).count()
        with tqdm(total=pending, unit="event", desc="publishing", file=self.stderr._out) as bar:
            total = drain_all(on_progress=bar.update)
        self.stdout.write(self.style.SUCCESS(f"published {total} events; none pending"))
