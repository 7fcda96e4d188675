"""Writing events: only inside the transaction of the change they describe."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from ticketing_shared import requestid
from ticketing_shared.events.models import OutboxEvent
from ticketing_shared.events.schemas import EventData
from ticketing_shared.events.tasks import NUDGE_PENDING_KEY, NUDGE_PENDING_TTL, relay_outbox

logger = logging.getLogger(__name__)


class OutsideTransactionError(RuntimeError):
    """``publish`` was called outside ``transaction.atomic``: the event could be lost."""


def publish(data: EventData, *, headers: dict[str, str] | None = None) -> OutboxEvent:
    """Record a typed event in the outbox of the current transaction.

    The relay publishes it to the topic of its schema, keyed by its aggregate id, once
    the transaction commits; a rollback discards it with the change.
    """
    return record_event(
        aggregate_type=data.aggregate_type,
        aggregate_id=data.aggregate_id(),
        event_type=data.topic,
        data=data.to_json(),
        headers=headers,
    )


def record_event(
    *,
    aggregate_type: str,
    aggregate_id: Any,
    event_type: str,
    data: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> OutboxEvent:
    """The untyped writer under :func:`publish` (the library's own tests use it for topics
    of their own); services publish typed events."""
    if not connection.in_atomic_block:
        raise OutsideTransactionError("publish() must run inside transaction.atomic()")
    request_id = requestid.current()
    event = OutboxEvent.objects.create(
        aggregatetype=aggregate_type,
        aggregateid=str(aggregate_id),
        type=event_type,
        payload=data,
        headers={**({requestid.EVENT_HEADER: request_id} if request_id else {}), **(headers or {})},
        occurred_at=timezone.now(),
    )
    if settings.OUTBOX["NUDGE_ON_COMMIT"]:
        _nudge_relay_on_commit()
    return event


def _nudge_relay_on_commit() -> None:
    """Ask a worker to relay right after commit, once per transaction."""
    if any(callback is _nudge_relay for _, callback, _ in connection.run_on_commit):
        return
    transaction.on_commit(_nudge_relay, robust=True)


def _nudge_relay() -> None:
    """Queue one relay task, unless one is already queued and not started yet.

    Our commit happened before this check and the queued task clears the flag before it
    reads the outbox, so that task will see our event: under load, thousands of commits
    share one task instead of each paying for a Celery message.
    """
    try:
        if not cache.add(NUDGE_PENDING_KEY, 1, timeout=NUDGE_PENDING_TTL):
            return
    except Exception as exc:  # no Redis: nudge anyway (the broker is likely down too)
        logger.debug("Relay nudge flag unavailable: %s", exc)
    # The beat schedule relays anyway; a broker hiccup here only costs latency.
    relay_outbox.apply_async(retry=False, ignore_result=True)
