"""Issuing, rotating and revoking tokens.

Access tokens carry what other services need to know about the caller (id, email,
staff flag), so they never call us per request. Refresh tokens are single-use: a
rotation or a sign-out blacklists the old one, and a row lock makes two concurrent
refreshes of one token yield one new pair, not two.
"""

from __future__ import annotations

from functools import cached_property

import jwt
from django.db import transaction
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken as BaseAccessToken
from rest_framework_simplejwt.tokens import RefreshToken as BaseRefreshToken

from accounts.models import User
from ticketing_shared.auth import signing_key_id


class SigningBackend(TokenBackend):
    """simplejwt's backend, naming the key in the token header (``kid``) so services that
    verify through our JWKS find it."""

    @cached_property
    def key_id(self) -> str:
        return signing_key_id(self.verifying_key)

    def encode(self, payload: dict) -> str:
        claims = dict(payload)
        if self.audience is not None:
            claims["aud"] = self.audience
        if self.issuer is not None:
            claims["iss"] = self.issuer
        return jwt.encode(claims, self.prepared_signing_key, algorithm=self.algorithm,
                          headers={"kid": self.key_id}, json_encoder=self.json_encoder)


_backend = SigningBackend(api_settings.ALGORITHM, api_settings.SIGNING_KEY, api_settings.VERIFYING_KEY,
                          api_settings.AUDIENCE, api_settings.ISSUER, None, api_settings.LEEWAY,
                          api_settings.JSON_ENCODER)


class AccessToken(BaseAccessToken):
    _token_backend = _backend


class RefreshToken(BaseRefreshToken):
    _token_backend = _backend
    access_token_class = AccessToken

DEAD_TOKEN = "Token is invalid, expired or revoked."


def issue(user: User) -> dict[str, str]:
    """A fresh pair for ``user``; the refresh token is recorded so it can be revoked."""
    refresh = RefreshToken.for_user(user)
    refresh["email"] = user.email
    refresh["is_staff"] = user.is_staff
    refresh["is_superuser"] = user.is_superuser
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def parse_refresh(raw: str) -> RefreshToken:
    """Signature, expiry, type and blacklist checked; anything wrong is a 401."""
    try:
        return RefreshToken(raw)
    except TokenError as error:
        raise AuthenticationFailed(DEAD_TOKEN, code="token_not_valid") from error


def rotate(raw: str) -> dict[str, str]:
    """Trade a live refresh token for a new pair, killing the old one."""
    refresh = parse_refresh(raw)
    with transaction.atomic():
        if not _revoke(refresh["jti"]):
            raise AuthenticationFailed(DEAD_TOKEN, code="token_not_valid")
        user = User.objects.filter(pk=refresh["user_id"], is_active=True).first()
        if user is None:
            raise AuthenticationFailed("No active account found for this token.", code="no_active_account")
        return issue(user)  # current email and staff flag, not the old token's


def sign_out(raw: str, *, user_id: str | None) -> None:
    """Kill a live refresh token: possessing it is the proof. When the caller also sent an
    access token (``user_id``), the refresh token must be theirs. A dead, expired, foreign
    or malformed refresh token is a 401, like at ``token/refresh``."""
    refresh = parse_refresh(raw)
    if user_id is not None and str(refresh["user_id"]) != user_id:
        raise PermissionDenied("This refresh token belongs to another user.")
    with transaction.atomic():
        if not _revoke(refresh["jti"]):
            raise AuthenticationFailed(DEAD_TOKEN, code="token_not_valid")


def _revoke(jti: str) -> bool:
    """Blacklist under a row lock; False when the token was already dead (or never ours)."""
    outstanding = OutstandingToken.objects.select_for_update().filter(jti=jti).order_by().first()
    if outstanding is None:
        return False
    _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    return created
