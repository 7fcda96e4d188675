"""Stateless authentication: an RS256 access token is the whole proof of identity.

Services never call the auth service per request and never look a user up in
their database; the token's claims give the user's id and email.

The verifying key is a PEM (``JWT_PUBLIC_KEY``) or the auth service's JWKS
(``JWT_JWKS_URL``), held by :class:`JwksCache` so that an auth service that is down
or slow changes nothing for tokens signed with a key we already know.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import threading
import time
import uuid
from functools import cache, cached_property

import jwt
import requests
from django.conf import settings
from django.core.signals import setting_changed
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from jwt.algorithms import RSAAlgorithm
from jwt.exceptions import PyJWKClientError
from rest_framework_simplejwt import settings as simplejwt_settings
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.tokens import AccessToken

logger = logging.getLogger(__name__)


def signing_key_id(public_pem: str) -> str:
    """The key's RFC 7638 thumbprint: the ``kid`` of the auth service's JWKS and token headers,
    which verifiers fetching the JWKS (:class:`JwksCache`) match keys by."""
    jwk = RSAAlgorithm.to_jwk(RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(public_pem), as_dict=True)
    canonical = json.dumps({name: jwk[name] for name in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


class JwksCache:
    """The auth service's signing keys, fetched from its JWKS and kept until a newer set arrives.

    PyJWKClient, which simplejwt uses by default, refetches in whichever request finds its
    cache expired and raises when that fetch fails: once the auth service had been down
    longer than the cache, every valid token was a 401, and every request thread queued
    behind the fetch. Here a key set, once fetched, is served until another one replaces
    it. When it is older than ``max_age`` one background thread refreshes it, and a failed
    refresh keeps the old set. A request waits only when its token names a key id never
    seen (the first request, a key rotation): then for one fetch, bounded by ``timeout``
    and shared by every thread that needs it. Fetches start at most every
    ``min_interval`` seconds, so made-up key ids cannot make us hammer the auth service.
    """

    def __init__(self, url: str, *, max_age: float, timeout: float, min_interval: float = 5.0) -> None:
        self.url = url
        self.max_age = max_age
        self.timeout = timeout
        self.min_interval = min_interval
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -math.inf  # time.monotonic() of the last key set received
        self._attempted_at = -math.inf  # of the last fetch started, whatever came of it
        self._in_flight: threading.Event | None = None
        self._lock = threading.Lock()

    def get_signing_key_from_jwt(self, token: str | bytes) -> jwt.PyJWK:
        """The key a token names in its ``kid`` header (what simplejwt asks its ``jwks_client``)."""
        kid = _key_id(token)
        key = self._keys.get(kid)
        if key is None:
            self._fetch_and_wait()
            key = self._keys.get(kid)
            if key is None:
                raise PyJWKClientError(f"No signing key with kid {kid!r}")
        elif time.monotonic() - self._fetched_at > self.max_age:
            self._refresh_in_background()
        return key

    def _refresh_in_background(self) -> None:
        done = self._claim_fetch()
        if done is not None:
            threading.Thread(target=self._fetch, args=(done,), name="jwks-refresh", daemon=True).start()

    def _fetch_and_wait(self) -> None:
        """Run a fetch here, or wait for the one in flight; neither when one just ran."""
        done = self._claim_fetch()
        if done is not None:
            self._fetch(done)
            return
        with self._lock:
            in_flight = self._in_flight
        if in_flight is not None:
            in_flight.wait(self.timeout)

    def _claim_fetch(self) -> threading.Event | None:
        """The event of a fetch the caller must run now, or None when one is in flight or
        started less than ``min_interval`` ago."""
        with self._lock:
            now = time.monotonic()
            if self._in_flight is not None or now - self._attempted_at < self.min_interval:
                return None
            self._in_flight, self._attempted_at = threading.Event(), now
            return self._in_flight

    def _fetch(self, done: threading.Event) -> None:
        try:
            keys = self._download()
        except Exception as exc:  # whatever went wrong, the keys we hold stay good
            logger.warning("JWKS: cannot fetch %s (%s); keeping the %d key(s) known", self.url, exc, len(self._keys))
        else:
            with self._lock:
                self._keys, self._fetched_at = keys, time.monotonic()
        finally:
            with self._lock:
                self._in_flight = None
            done.set()

    def _download(self) -> dict[str, jwt.PyJWK]:
        response = requests.get(self.url, timeout=self.timeout)
        response.raise_for_status()
        keys = {}
        for data in response.json().get("keys", []):
            if data.get("kid") and data.get("use", "sig") == "sig":
                try:
                    keys[data["kid"]] = jwt.PyJWK(data)
                except jwt.PyJWTError as exc:  # a key type we cannot use: the others still count
                    logger.warning("JWKS: skipping key %s: %s", data["kid"], exc)
        if not keys:
            raise ValueError("the key set holds no signing key")
        return keys


def _key_id(token: str | bytes) -> str:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise PyJWKClientError(f"Unreadable token header: {exc}") from exc
    if not isinstance(kid, str) or not kid:
        raise PyJWKClientError("The token names no signing key (kid)")
    return kid


@cache
def verifying_backend() -> TokenBackend:
    """simplejwt's token backend for ``SIMPLE_JWT``, with a :class:`JwksCache` in place of
    PyJWKClient when the key comes from ``JWK_URL``. One per process: the cache is shared."""
    jwt_settings = simplejwt_settings.api_settings  # looked up now: simplejwt rebuilds it when SIMPLE_JWT changes
    backend = TokenBackend(jwt_settings.ALGORITHM, jwt_settings.SIGNING_KEY, jwt_settings.VERIFYING_KEY,
                           jwt_settings.AUDIENCE, jwt_settings.ISSUER, None, jwt_settings.LEEWAY,
                           jwt_settings.JSON_ENCODER)
    if jwt_settings.JWK_URL:
        backend.jwks_client = JwksCache(
            jwt_settings.JWK_URL,
            max_age=getattr(settings, "JWT_JWKS_CACHE_SECONDS", 300.0),
            timeout=getattr(settings, "JWT_JWKS_TIMEOUT_SECONDS", 2.0),
        )
    return backend


def _forget_backend(*, setting: str, **kwargs) -> None:
    """Tests that change the keys get a backend (and a key cache) built from the new ones."""
    if setting in ("SIMPLE_JWT", "JWT_JWKS_CACHE_SECONDS", "JWT_JWKS_TIMEOUT_SECONDS"):
        verifying_backend.cache_clear()


setting_changed.connect(_forget_backend)


class ServiceAccessToken(AccessToken):
    """An access token verified by :func:`verifying_backend` (``SIMPLE_JWT["AUTH_TOKEN_CLASSES"]``)."""

    @property
    def token_backend(self) -> TokenBackend:
        return verifying_backend()


class ServiceUser(TokenUser):
    """The caller, as its access token describes it."""

    @cached_property
    def id(self) -> str:
        return str(super().id)

    @cached_property
    def email(self) -> str:
        return self.token.get("email", "")

    @cached_property
    def is_staff(self) -> bool:
        return bool(self.token.get("is_staff", False))


class JWTAuthentication(JWTStatelessUserAuthentication):
    """Bearer token in, :class:`ServiceUser` out; anything wrong with the token is a 401."""

    www_authenticate_realm = "api"

    def get_user(self, validated_token):
        """User ids are UUIDs everywhere: a token naming anything else is not one of ours."""
        try:
            uuid.UUID(str(validated_token.get("user_id")))
        except ValueError:
            raise InvalidToken({"detail": "Token contained no recognizable user identification"}) from None
        return super().get_user(validated_token)


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    """Tells the OpenAPI schema that the APIs take a Bearer JWT."""

    target_class = "ticketing_shared.auth.JWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (RS256, issued by the auth service)"}
