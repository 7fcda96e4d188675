"""Answering a request once per ``Idempotency-Key`` (the rules: this package's docstring).

How it stays right when requests race and processes die:

1. *Begin* (its own short transaction): insert the key's row for this user, or find it
   under a row lock. The unique (user, key) constraint decides which of two concurrent
   duplicates runs; the other waits for that insert to commit, then finds the key busy
   (409) or answered (replay). The winner holds the key with a token and a lease.
2. *Run* the request. With ``atomic=True`` the effect and the kept answer commit in one
   transaction, so a crash leaves either both or neither: a retry replays, or runs as if
   for the first time. Should the lease have run out meanwhile (another request took the
   key over), the effect is rolled back: only one of them ever commits.
3. *Keep or let go*: a 2xx answer is kept; anything else changed nothing and the key is
   deleted, so a retry runs again. A request that died holding the key lets it go when
   its lease ends.

``atomic=False`` is for effects that cannot be one transaction (a charge: the payments
service never holds a transaction open across a Stripe call). The answer is then kept
right after the effect; a crash in between leaves the key to its lease, and the retry
runs again, where the service's own rule (one payment per order) answers it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.status import is_success

from ticketing_shared.errors import Conflict, DomainError
from ticketing_shared.idempotency import HEADER, REPLAYED_HEADER, RETENTION
from ticketing_shared.idempotency.models import IdempotencyKey
from ticketing_shared.transactions import retrying

logger = logging.getLogger(__name__)

INVALID_KEY = f"{HEADER} must be 1 to 255 visible ASCII characters"
KEY_REUSED = f"This {HEADER} was already used for a different request"
KEY_IN_USE = f"A request with this {HEADER} is still in progress; try again in a moment"

_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")


class InvalidIdempotencyKey(DomainError):
    """The header is there but cannot be a key (400)."""


class IdempotencyKeyReused(DomainError):
    """The key answered another request: replaying that answer would be wrong (422)."""

    status_code = 422


class IdempotencyKeyInUse(Conflict):
    """The first request with this key has not answered yet (409)."""


@dataclass(frozen=True)
class _Claim:
    """This request holds the key: it may run, then keep its answer or let the key go."""

    row_id: int
    token: uuid.UUID

    def _held(self):
        return IdempotencyKey.objects.filter(pk=self.row_id, token=self.token, state=IdempotencyKey.State.IN_PROGRESS)

    def keep(self, response: Response) -> bool:
        """Store the answer for replays; False when another request took the key over."""
        return bool(
            self._held().update(
                state=IdempotencyKey.State.DONE,
                response_status=response.status_code,
                response_body=_as_json(response.data),
                token=None,
                lease_until=None,
            )
        )

    def let_go(self) -> None:
        """The request changed nothing: forget the key, so that a retry runs again.

        One statement (a queryset's ``delete()`` would wrap it in a transaction of its own:
        three round trips, on the path of every refused request)."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {IdempotencyKey._meta.db_table} WHERE id = %s AND token = %s AND state = %s",
                [self.row_id, self.token, IdempotencyKey.State.IN_PROGRESS],
            )


def respond_once(
    request: Request, handle: Callable[[], Response], *, lease_seconds: float, atomic: bool
) -> Response:
    """``handle()`` the request, or replay the answer of the first one with its ``Idempotency-Key``.

    Without the header, ``handle()`` runs as it always did. ``lease_seconds`` must outlast
    the slowest run of ``handle``: after it, the key counts as abandoned by a dead request.
    ``atomic`` runs ``handle`` and keeps its answer in one transaction (see the module).
    """
    key = request.headers.get(HEADER)
    if key is None:
        return handle()
    if not _KEY_PATTERN.fullmatch(key):
        raise InvalidIdempotencyKey(INVALID_KEY)
    begun = _begin(
        user_id=request.user.id,
        key=key,
        fingerprint=fingerprint(request.method, request.path, request.data),
        lease=timedelta(seconds=lease_seconds),
    )
    if isinstance(begun, Response):
        return begun
    try:
        response = _run_atomically(handle, begun) if atomic else _run(handle, begun)
    except BaseException:
        begun.let_go()
        raise
    if not is_success(response.status_code):
        begun.let_go()
    return response


def fingerprint(method: str, path: str, data: Any) -> str:
    """What makes two requests "the same": method, path and the JSON body, in any key order or spacing."""
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


def prune(*, now: datetime | None = None) -> int:
    """Forget keys older than ``RETENTION``; returns how many."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = IdempotencyKey.objects.filter(created_at__lte=cutoff).delete()
    return deleted


def _begin(*, user_id: str, key: str, fingerprint: str, lease: timedelta) -> _Claim | Response:
    """Hold the key (a claim), or the first request's answer to replay; 409 or 422 otherwise."""
    now, token = timezone.now(), uuid.uuid4()
    claimed = _claim_new(user_id=user_id, key=key, fingerprint=fingerprint, token=token, now=now, lease=lease)
    if claimed is not None:
        return claimed
    with transaction.atomic():
        IdempotencyKey.objects.bulk_create(
            [IdempotencyKey(user_id=user_id, key=key, fingerprint=fingerprint, token=token, lease_until=now + lease,
                            created_at=now)],
            ignore_conflicts=True,  # INSERT ... ON CONFLICT DO NOTHING: waits for a concurrent insert of the key
        )
        row = IdempotencyKey.objects.select_for_update().get(user_id=user_id, key=key)
        if row.token == token:
            return _Claim(row.pk, token)
        if row.created_at <= now - RETENTION:  # forgotten, though not pruned yet: a new request
            _take(row, token=token, lease_until=now + lease, fingerprint=fingerprint, created_at=now)
            return _Claim(row.pk, token)
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused(KEY_REUSED)
        if row.state == IdempotencyKey.State.DONE:
            return Response(row.response_body, status=row.response_status, headers={REPLAYED_HEADER: "true"})
        if row.lease_until is not None and row.lease_until > now:
            raise IdempotencyKeyInUse(KEY_IN_USE)
        logger.warning("%s %r of user %s was abandoned by a request that died; running it again", HEADER, key,
                       user_id)
        _take(row, token=token, lease_until=now + lease)
        return _Claim(row.pk, token)


def _claim_new(*, user_id: str, key: str, fingerprint: str, token: uuid.UUID, now: datetime,
               lease: timedelta) -> _Claim | None:
    """The usual case in one round trip: a key never seen is inserted and held at once (in
    autocommit, a statement is its own transaction). None when the key exists (or is being
    inserted by a concurrent duplicate, which this statement waits for): :func:`_begin` then
    looks at it under a row lock."""
    table = IdempotencyKey._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, key, fingerprint, state, token, lease_until, created_at) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
            [user_id, key, fingerprint, IdempotencyKey.State.IN_PROGRESS, token, now + lease, now],
        )
        row = cursor.fetchone()
    return _Claim(row[0], token) if row else None


def _take(row: IdempotencyKey, **fields) -> None:
    """Hold ``row`` (locked by the caller) for a new run: no answer yet."""
    for name, value in {**fields, "state": IdempotencyKey.State.IN_PROGRESS, "response_status": None,
                        "response_body": None}.items():
        setattr(row, name, value)
    row.save()


def _run_atomically(handle: Callable[[], Response], claim: _Claim) -> Response:
    """The effect and its kept answer commit together, or not at all. The services' own
    transactions join this one, so a deadlock or serialization abort in them runs the
    whole of it again here (:func:`ticketing_shared.transactions.retrying`)."""

    def once() -> Response:
        with transaction.atomic():
            response = handle()
            if is_success(response.status_code) and not claim.keep(response):
                # Our lease ran out and another request holds the key: it makes the effect, not us.
                raise IdempotencyKeyInUse(KEY_IN_USE)
        return response

    return retrying(once)


def _run(handle: Callable[[], Response], claim: _Claim) -> Response:
    """For effects that are not one transaction: keep the answer right after it."""
    response = handle()
    if is_success(response.status_code) and not claim.keep(response):
        logger.warning("The answer to %s %s was not kept: its lease ran out first", HEADER, claim.row_id)
    return response


def _as_json(data: Any) -> Any:
    """The answer exactly as the client received it (the API's own JSON renderer), so a replay is identical."""
    return json.loads(JSONRenderer().render(data))
