"""The signed-in user and their tokens, kept in the server-side session (never in the page).

The session lives in Redis (the cache session engine); the browser holds only its
opaque, HttpOnly cookie. An access token the services refuse is replaced through
``POST /api/users/token/refresh``; the rotated pair is stored at once, under a short
per-session lock, so that two requests of one browser racing on an expired token do
not both spend the same refresh token (the second would be refused and sign the user
out).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from storefront.clients.auth import AuthClient, SignedIn
from storefront.clients.base import SessionExpired

SESSION_KEY = "auth"
PAID_KEY = "paid_orders"
CART_KEY = "cart"
PAID_REMEMBERED = 20
REFRESH_LOCK_SECONDS = 10


@dataclass(frozen=True)
class CurrentUser:
    id: str
    email: str


class UserSession:
    """The :class:`~storefront.clients.base.Credentials` of the browser behind a request."""

    def __init__(self, session: SessionBase) -> None:
        self._session = session

    @classmethod
    def of(cls, request: HttpRequest) -> UserSession:
        return cls(request.session)

    @property
    def _data(self) -> dict[str, Any] | None:
        return self._session.get(SESSION_KEY)

    @property
    def user(self) -> CurrentUser | None:
        data = self._data
        return CurrentUser(id=data["id"], email=data["email"]) if data else None

    @property
    def access(self) -> str | None:
        data = self._data
        return data["access"] if data else None

    @property
    def refresh_token(self) -> str | None:
        data = self._data
        return data["refresh"] if data else None

    def sign_in(self, signed_in: SignedIn) -> None:
        """A new session key on every sign-in, so a planted session id is worth nothing."""
        self._session.cycle_key()
        self._session[SESSION_KEY] = {
            "id": signed_in.id,
            "email": signed_in.email,
            "access": signed_in.access,
            "refresh": signed_in.refresh,
        }

    def sign_out(self) -> None:
        self._session.flush()

    def remember_payment(self, order_id: str) -> None:
        """The payments service took the money; the order turns ``complete`` when its event arrives."""
        paid = [str(order_id), *(known for known in self.paid_order_ids if known != str(order_id))]
        self._session[PAID_KEY] = paid[:PAID_REMEMBERED]

    @property
    def paid_order_ids(self) -> list[str]:
        return list(self._session.get(PAID_KEY, []))

    def remember_cart(self, order) -> None:
        """The buyer's open order (their cart) as last seen: its id, size and expiry, for the
        navigation; forgotten once it is not open any more."""
        if order is None or not order.is_open_cart:
            self._session.pop(CART_KEY, None)
            return
        self._session[CART_KEY] = {"order_id": order.id, "size": len(order.tickets),
                                   "expires_at": order.expires_at.isoformat()}

    @property
    def cart_order_id(self) -> str | None:
        return (self._session.get(CART_KEY) or {}).get("order_id")

    @property
    def cart_size(self) -> int:
        """How many tickets the cart holds, 0 once its reservation has lapsed."""
        cart = self._session.get(CART_KEY)
        if not cart:
            return 0
        expires_at = parse_datetime(cart.get("expires_at", ""))
        if expires_at is None or expires_at <= timezone.now():
            return 0
        return int(cart.get("size", 0))

    def refresh(self, rejected_access: str) -> str:
        """A fresh access token for one the services refused; :class:`SessionExpired` if none can be had."""
        data = self._data
        key = self._session.session_key
        if not data or not key:
            raise SessionExpired()
        with _lock(f"refresh-lock:{key}"):
            stored = _load(key).get(SESSION_KEY)
            if stored and stored["access"] != rejected_access:
                # Another request of this browser refreshed meanwhile: use its pair.
                self._session[SESSION_KEY] = stored
                return stored["access"]
            try:
                pair = AuthClient().refresh(refresh=data["refresh"])
            except SessionExpired:
                self.sign_out()
                raise
            self._session[SESSION_KEY] = {**data, "access": pair.access, "refresh": pair.refresh}
            self._session.save()  # now, not at the end of the request: parallel requests must see it
        return pair.access


def _load(session_key: str) -> dict[str, Any]:
    """The session as stored right now, not as this request loaded it."""
    engine = import_module(settings.SESSION_ENGINE)
    return engine.SessionStore(session_key=session_key).load()


@contextmanager
def _lock(name: str) -> Iterator[None]:
    """A best-effort mutex in the cache: waits up to the lock's lifetime, then goes ahead."""
    token = uuid.uuid4().hex
    deadline = time.monotonic() + REFRESH_LOCK_SECONDS
    while not cache.add(name, token, REFRESH_LOCK_SECONDS) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield
    finally:
        if cache.get(name) == token:
            cache.delete(name)
