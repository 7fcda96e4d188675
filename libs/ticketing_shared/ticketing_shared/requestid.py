"""One request id from the first HTTP request through every event it causes.

The id comes from the caller's ``X-Request-ID`` (or is made up), is echoed in the
response, stamped on every log line, stored in the headers of each outbox event
written meanwhile, sent to Kafka with the event and bound again by the consumer
while it applies the event, so the events that event publishes carry it too:
``grep <id>`` over all services' logs follows one purchase end to end.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
EVENT_HEADER = "request_id"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def current() -> str | None:
    return _current.get()


@contextmanager
def bound(request_id: str | None) -> Iterator[str | None]:
    """Make ``request_id`` current for the block (a consumer applying one event, a task)."""
    token = _current.set(request_id if request_id and _VALID.match(request_id) else None)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


class RequestIdMiddleware:
    """Take the caller's id when it is sane, else make one; answer with it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(HEADER, "")
        request_id = incoming if _VALID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        with bound(request_id):
            response = self.get_response(request)
        response[HEADER] = request_id
        return response


class RequestIdLogFilter(logging.Filter):
    """Gives every log record a ``request_id`` attribute ("-" outside a request or event)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        return True
