from django.core.management.base import BaseCommand

from ticketing_shared.events.relay import relay_outbox


class Command(BaseCommand):
    help = "Publish every pending outbox event now (the Celery beat does this continuously)."

    def handle(self, *args, **options):
        total = 0
        while published := relay_outbox():
            total += published
            self.stdout.write(f"published {total}", ending="\r")
        self.stdout.write(self.style.SUCCESS(f"published {total} events"))
