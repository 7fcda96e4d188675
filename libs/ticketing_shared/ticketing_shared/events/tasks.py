"""The relay's Celery tasks: drain the outbox (on beat and when nudged after a commit), prune
it; and prune the consumers' inbox."""

from celery import shared_task
from django.core.cache import cache

from ticketing_shared.events import inbox, relay

# Set while a nudged relay task waits in the queue; the task clears it before it drains.
NUDGE_PENDING_KEY = "events:relay-nudge-pending"
NUDGE_PENDING_TTL = 5  # seconds: a lost task (worker down) stops suppressing nudges after this


@shared_task(name="events.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    try:
        cache.delete(NUDGE_PENDING_KEY)  # before reading: a commit after this nudges again
    except Exception:  # no Redis: nudges are not suppressed then (see outbox._nudge_relay)
        pass
    return relay.relay_outbox()


@shared_task(name="events.prune_outbox", ignore_result=True)
def prune_outbox() -> int:
    return relay.prune_outbox()


@shared_task(name="events.prune_inbox", ignore_result=True)
def prune_inbox() -> int:
    return inbox.prune_inbox()
