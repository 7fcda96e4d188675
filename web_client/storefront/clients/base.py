"""What every service client shares: timeouts, the error shape, and the token refresh.

The services answer errors as ``{"errors": [{"message", "field"?}]}`` (docs/api.md). A
4xx becomes :class:`ApiError`, which the views turn into sentences next to the right
form field; a service that does not answer, times out or fails with a 5xx becomes
:class:`ServiceUnavailable`, shown as "The tickets service is unavailable...".

Every call made while a browser's request is handled names that browser in
``X-Forwarded-For``, as a proxy would: to the services, the web client is the peer of
every storefront user, and they throttle sign-ins per client (``ticketing_shared.clientip``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import requests
from django.conf import settings
from django.core.signals import request_finished, request_started

from ticketing_shared import clientip

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Shown when a service answers an error without a message we could use.
FALLBACK_MESSAGES = {
    400: "That request was not accepted.",
    401: "Please sign in again.",
    402: "The payment was declined.",
    403: "You are not allowed to do that.",
    404: "That could not be found.",
    409: "Someone changed this meanwhile. Please look at the latest version and try again.",
    429: "Too many attempts. Please wait a few minutes and try again.",
}


@dataclass(frozen=True)
class FieldError:
    message: str
    field: str | None = None


@dataclass
class ApiError(Exception):
    """A 4xx from a service, with its messages (``field`` names the input at fault)."""

    service: str
    status: int
    errors: list[FieldError] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message)
        if not self.errors:
            self.errors = [FieldError(FALLBACK_MESSAGES.get(self.status, "Something went wrong."))]

    @property
    def message(self) -> str:
        """All messages as one sentence, for a flash or a page."""
        return " ".join(error.message for error in self.errors) if self.errors else ""

    def __str__(self) -> str:
        return self.message


class ServiceUnavailable(Exception):
    """The service did not answer, timed out, or failed on its side (5xx)."""

    def __init__(self, service: str, detail: str = "") -> None:
        self.service = service
        self.detail = detail
        super().__init__(f"The {service} service is unavailable, please try again.")


class SessionExpired(Exception):
    """The refresh token is dead too: the user must sign in again."""


class Credentials(Protocol):
    """Where a client finds the caller's access token, and how it gets a new one."""

    @property
    def access(self) -> str | None: ...

    def refresh(self, rejected_access: str) -> str:
        """A fresh access token, or :class:`SessionExpired`."""
        ...


_local = threading.local()

# The X-Forwarded-For of the browser request being handled ("" outside one). The views
# make clients without their request, so the request's arrival sets it and its end clears it.
_forwarded_for: ContextVar[str] = ContextVar("forwarded_for", default="")


def _remember_browser(sender: object, environ: dict | None = None, **kwargs: Any) -> None:
    """On ``request_started``: the chain the browser came through, plus the browser's peer."""
    _forwarded_for.set(clientip.forwarded_for(environ or {}))


def _forget_browser(sender: object, **kwargs: Any) -> None:
    """On ``request_finished``: calls made outside a request (a command) name nobody."""
    _forwarded_for.set("")


request_started.connect(_remember_browser, dispatch_uid="storefront.clients.remember_browser")
request_finished.connect(_forget_browser, dispatch_uid="storefront.clients.forget_browser")


def _http() -> requests.Session:
    """One pooled connection set per thread (gunicorn runs threads; requests' Session is not thread-safe)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.headers.update({"Accept": "application/json", "User-Agent": "ticketing-web"})
    return session


# A pooled keep-alive connection the service closed (idle too long, restarted) fails the next
# request sent on it with a reset or "Remote end closed connection": such a call is sent again
# on a new connection, when sending it twice cannot do anything twice.
CONNECTION_RETRIES = 2
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def _safe_to_resend(method: str, headers: dict[str, str]) -> bool:
    """Idempotent methods, and POSTs with an ``Idempotency-Key`` (the same key makes the retry the
    same request: the orders and payments services answer it with the first answer)."""
    return method.upper() in IDEMPOTENT_METHODS or "Idempotency-Key" in headers


def _lost_connection(error: requests.RequestException) -> bool:
    """The connection broke (reset, closed without an answer); not a service that does not answer
    at all (a connect timeout) or one too slow to (a read timeout): retrying those only doubles the wait."""
    return isinstance(error, requests.ConnectionError) and not isinstance(error, requests.ConnectTimeout)


def parse_errors(response: requests.Response) -> list[FieldError]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [
        FieldError(str(error["message"]), error.get("field") or None)
        for error in errors
        if isinstance(error, dict) and error.get("message")
    ]


class ServiceClient:
    """A thin client of one service's HTTP API. Subclasses name the service and add calls."""

    service: ClassVar[str]

    def __init__(self, credentials: Credentials | None = None) -> None:
        self.credentials = credentials

    @property
    def base_url(self) -> str:
        return settings.SERVICE_URLS[self.service]

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        authenticated: bool = False,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send one call; on a 401, refresh the access token once and retry.

        Returns any 2xx response; raises :class:`ApiError` for a 4xx and
        :class:`ServiceUnavailable` when the service cannot be used. ``json`` may be a
        callable, evaluated per attempt, for a body that names a token the refresh rotates.
        """
        access = self._access() if authenticated else None
        response = self._send(method, path, json=json, params=params, access=access, headers=headers)
        if response.status_code == 401 and authenticated and self.credentials is not None and access:
            access = self.credentials.refresh(access)
            response = self._send(method, path, json=json, params=params, access=access, headers=headers)
            if response.status_code == 401:  # a brand-new token refused: the session is no good
                raise SessionExpired()
        if response.status_code >= 500:
            errors = parse_errors(response)
            detail = errors[0].message if errors else response.reason
            logger.warning("%s %s%s answered %s: %s", method, self.service, path, response.status_code, detail)
            raise ServiceUnavailable(self.service, detail)
        if response.status_code >= 400:
            raise ApiError(self.service, response.status_code, parse_errors(response))
        return response

    def _access(self) -> str:
        token = self.credentials.access if self.credentials is not None else None
        if not token:
            raise SessionExpired()
        return token

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: dict[str, Any] | None,
        access: str | None,
        headers: dict[str, str] | None,
    ) -> requests.Response:
        all_headers = dict(headers or {})
        if forwarded_for := _forwarded_for.get():
            all_headers[clientip.HEADER] = forwarded_for
        if access:
            all_headers["Authorization"] = f"Bearer {access}"
        timeout = (settings.SERVICE_CONNECT_TIMEOUT_SECONDS, settings.SERVICE_READ_TIMEOUT_SECONDS)
        if callable(json):
            json = json()
        attempts = 1 + (CONNECTION_RETRIES if _safe_to_resend(method, all_headers) else 0)
        for attempt in range(1, attempts + 1):
            try:
                return _http().request(
                    method, f"{self.base_url}{path}", json=json, params=params, headers=all_headers, timeout=timeout
                )
            except requests.RequestException as error:
                if attempt < attempts and _lost_connection(error):
                    logger.info("%s %s%s lost its connection (%s); sending it again", method, self.service, path,
                                error)
                    continue
                logger.warning("%s %s%s failed: %s", method, self.service, path, error)
                raise ServiceUnavailable(self.service, str(error)) from error
        raise AssertionError("unreachable: the last attempt returns or raises")


def retry_while_not_found(call: Callable[[], T], *, statuses: Iterable[int] = (404,)) -> T:
    """Run ``call``, retrying a "not found" for ``SERVICE_PROPAGATION_WAIT_SECONDS``.

    A ticket is announced to the orders service, and an order to the payments service,
    by events: right after it was made, the other service may not know it yet
    (it answers 404 until then). A person should not see that moment as an error.
    """
    deadline = time.monotonic() + settings.SERVICE_PROPAGATION_WAIT_SECONDS
    delay = 0.1
    wanted = set(statuses)
    while True:
        try:
            return call()
        except ApiError as error:
            if error.status not in wanted or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def poll(call: Callable[[], T], *, until: Callable[[T], bool], timeout: float) -> T:
    """Call until ``until(result)`` holds or ``timeout`` seconds pass; the last result either way."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        result = call()
        if until(result) or time.monotonic() + delay > deadline:
            return result
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of an API list (``count``, ``results``), with page-number arithmetic."""

    results: list[T]
    count: int
    number: int
    size: int

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def previous_number(self) -> int:
        return self.number - 1

    @property
    def next_number(self) -> int:
        return self.number + 1

    @classmethod
    def from_response(cls, body: dict[str, Any], *, number: int, size: int, parse: Callable[[dict], T]) -> Page[T]:
        return cls(
            results=[parse(item) for item in body.get("results", [])],
            count=int(body.get("count", 0)),
            number=number,
            size=size,
        )


def idempotency_key() -> dict[str, str]:
    """The header that makes a POST safe to send again: the orders and payments services answer
    a repeat of the same key and body with the first response, and change nothing."""
    return {"Idempotency-Key": str(uuid.uuid4())}


def page_params(number: int, size: int) -> dict[str, int]:
    return {"limit": size, "offset": (max(number, 1) - 1) * size}


def money_str(value: Decimal) -> str:
    """The APIs' money: a decimal string with two places (``"20.00"``)."""
    return f"{value:.2f}"
