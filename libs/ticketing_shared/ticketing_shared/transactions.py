"""Running a transaction again when PostgreSQL aborted it to break a deadlock or a
serialization conflict: such an abort changed nothing, so the client never sees it.

Only the outermost transaction can run again. Nested in another one (the orders API runs
a reservation inside the transaction that also keeps its ``Idempotency-Key`` answer), the
abort belongs to the outer transaction, whose owner runs the whole of it again.

A service's write opens its block with :func:`atomic`: inside a transaction that
:func:`retrying` runs as a whole, any error ends that whole transaction, so the block
joins it without a savepoint (two round trips fewer per request); anywhere else (a
caller's own ``transaction.atomic``, a test's) it keeps its savepoint, so the caller may
go on after the block failed.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, connection, transaction

logger = logging.getLogger(__name__)
T = TypeVar("T")

# PostgreSQL's serialization_failure and deadlock_detected.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
ATTEMPTS = 5


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a database error Django wrapped (None for anything else)."""
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)


def is_retryable(error: BaseException) -> bool:
    """Whether ``error`` is PostgreSQL aborting a transaction that may simply run again."""
    return isinstance(error, OperationalError) and sqlstate(error) in RETRYABLE_SQLSTATES


def retrying(work: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """``work()`` (one ``transaction.atomic`` block that ends with any error raised in it),
    run again up to ``attempts`` times when PostgreSQL aborted it (:func:`is_retryable`).
    Inside an outer transaction it runs once: the outer transaction is the one to run again."""
    if connection.in_atomic_block:
        return work()
    setattr(connection, _WHOLE, True)
    try:
        for attempt in range(1, attempts + 1):
            try:
                return work()
            except OperationalError as error:
                if not is_retryable(error) or attempt == attempts:
                    raise
                logger.info("Transaction aborted by PostgreSQL (%s), attempt %d: running it again",
                            sqlstate(error), attempt)
                time.sleep(random.uniform(0.005, 0.05) * attempt)
        raise AssertionError("unreachable")
    finally:
        setattr(connection, _WHOLE, False)


def atomic() -> transaction.Atomic:
    """``transaction.atomic()`` for a service's write, without a savepoint when it runs inside
    a transaction that :func:`retrying` owns (see the module)."""
    return transaction.atomic(savepoint=not getattr(connection, _WHOLE, False))


# Set on the thread's connection while ``retrying`` runs a transaction as a whole.
_WHOLE = "ticketing_runs_whole_transaction"
