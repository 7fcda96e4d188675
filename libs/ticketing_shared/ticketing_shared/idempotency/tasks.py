"""Forgetting keys once they are older than a day (``BEAT_SCHEDULE``)."""

from celery import shared_task


@shared_task(name="idempotency.prune", ignore_result=True)
def prune_idempotency_keys() -> int:
    from ticketing_shared.idempotency.keys import prune

    return prune()
