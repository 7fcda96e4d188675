"""The auth service: ``/api/users/...``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from storefront.clients.base import ApiError, ServiceClient, SessionExpired


@dataclass(frozen=True)
class SignedIn:
    """What sign-up and sign-in answer: the user and their token pair."""

    id: str
    email: str
    access: str
    refresh: str


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


class AuthClient(ServiceClient):
    service = "auth"

    def signup(self, *, email: str, password: str) -> SignedIn:
        response = self.request("POST", "/api/users/signup", json={"email": email, "password": password})
        return _signed_in(response.json())

    def signin(self, *, email: str, password: str) -> SignedIn:
        response = self.request("POST", "/api/users/signin", json={"email": email, "password": password})
        return _signed_in(response.json())

    def signout(self, *, refresh: Callable[[], str | None]) -> None:
        """Kill the refresh token; needs the caller's access token too.

        ``refresh`` is read per attempt: when the access token has expired, refreshing it
        rotates the pair, and it is the new refresh token that must die.
        """
        self.request("POST", "/api/users/signout", json=lambda: {"refresh": refresh()}, authenticated=True)

    def request_password_reset(self, *, email: str) -> None:
        """The auth service emails a link if the account exists; it answers the same either way."""
        self.request("POST", "/api/users/password/reset", json={"email": email})

    def confirm_password_reset(self, *, uid: str, token: str, password: str) -> None:
        self.request("POST", "/api/users/password/reset/confirm",
                     json={"uid": uid, "token": token, "password": password})

    def refresh(self, *, refresh: str) -> TokenPair:
        """Rotate the pair; a dead or bad refresh token means the session is over."""
        try:
            response = self.request("POST", "/api/users/token/refresh", json={"refresh": refresh})
        except ApiError as error:
            if error.status in (400, 401):
                raise SessionExpired() from error
            raise
        body = response.json()
        return TokenPair(access=body["access"], refresh=body["refresh"])


def _signed_in(body: dict) -> SignedIn:
    return SignedIn(id=str(body["id"]), email=body["email"], access=body["access"], refresh=body["refresh"])
