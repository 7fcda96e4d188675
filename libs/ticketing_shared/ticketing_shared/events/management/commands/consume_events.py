import signal

from django.core.management.base import BaseCommand

from ticketing_shared.events.consumer import ConsumerRunner
from ticketing_shared.events.registry import discover_handlers


class Command(BaseCommand):
    help = "Apply the events this service handles, from Kafka, until SIGTERM."

    def handle(self, *args, **options):
        discover_handlers()
        runner = ConsumerRunner()
        signal.signal(signal.SIGTERM, runner.stop)
        signal.signal(signal.SIGINT, runner.stop)
        runner.run()
