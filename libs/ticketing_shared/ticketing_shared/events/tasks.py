from celery import shared_task

from ticketing_shared.events import relay


@shared_task(name="events.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    from django.core.cache import cache

    from ticketing_shared.events.outbox import NUDGE_PENDING_KEY

    try:
        cache.delete(NUDGE_PENDING_KEY)  # before reading: a commit after this nudges again
    except Exception:  # no Redis: nudges are not suppressed then (see outbox._nudge_relay)
        pass
    return relay.relay_outbox()


@shared_task(name="events.prune_outbox", ignore_result=True)
def prune_outbox() -> int:
    return relay.prune_outbox()
