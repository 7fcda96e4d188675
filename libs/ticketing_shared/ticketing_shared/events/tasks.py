from celery import shared_task

from ticketing_shared.events import relay


@shared_task(name="events.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    return relay.relay_outbox()


@shared_task(name="events.prune_outbox", ignore_result=True)
def prune_outbox() -> int:
    return relay.prune_outbox()
