"""Writing events: only inside the transaction of the change they describe."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ticketing_shared import requestid
from ticketing_shared.events.models import OutboxEvent

logger = logging.getLogger(__name__)


class OutsideTransactionError(RuntimeError):
    """``publish`` was called outside ``transaction.atomic``: the event could be lost."""


def publish(
    *,
    aggregate_type: str,
    aggregate_id: Any,
    event_type: str,
    data: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> OutboxEvent:
    """Record ``event_type`` for the aggregate in the outbox of the current transaction.

    The relay publishes it to the topic named ``event_type`` with ``aggregate_id``
    as the key once the transaction commits; a rollback discards it with the change.
    """
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
    from ticketing_shared.events.tasks import relay_outbox

    # The beat schedule relays anyway; a broker hiccup here only costs latency.
    relay_outbox.apply_async(retry=False, ignore_result=True)
