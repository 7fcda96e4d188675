"""Issuing, rotating and revoking tokens.

Access tokens carry what other services need to know about the caller (id, email,
staff flag), so they never call us per request. Refresh tokens are single-use: a
rotation or a sign-out blacklists the old one, and a row lock makes two concurrent
refreshes of one token yield one new pair, not two.

Every refresh token also names its family, the sign-in it descends from. A token
that comes back after it was spent has been copied: whoever holds the copy, the whole
family dies, so a thief's token and everything rotated from it answer 401 at once,
rather than until the owner happens to stop refreshing (see ``RevokedTokenFamily``).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from functools import cached_property

import jwt
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken as BaseAccessToken
from rest_framework_simplejwt.tokens import RefreshToken as BaseRefreshToken

from accounts.models import RevokedTokenFamily, User
from ticketing_shared.auth import signing_key_id
from ticketing_shared.errors import Forbidden, Unauthenticated

logger = logging.getLogger(__name__)


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


FAMILY_CLAIM = "family"
# A revoked family's last token was issued before the revocation, so it is expired one
# refresh lifetime later; the margin covers clock skew between the auth service's pods.
FAMILY_RECORD_MARGIN = timedelta(hours=1)


class RefreshToken(BaseRefreshToken):
    _token_backend = _backend
    access_token_class = AccessToken
    # The family is the auth service's business: access tokens stay as they were.
    no_copy_claims = (*BaseRefreshToken.no_copy_claims, FAMILY_CLAIM)

    def check_blacklist(self) -> None:
        """Left to :func:`_spend`, under a row lock: a spent token coming back is not just
        dead, it is news (its family dies), so it must not be refused before we look."""


DEAD_TOKEN = "Token is invalid, expired or revoked."


def issue(user: User, *, family: str | None = None) -> dict[str, str]:
    """A fresh pair for ``user``; the refresh token is recorded so it can be revoked.

    A sign-in starts a new family; a rotation passes on the family of the token it spent.
    """
    refresh = RefreshToken.for_user(user)
    refresh[FAMILY_CLAIM] = family or uuid.uuid4().hex
    refresh["email"] = user.email
    refresh["is_staff"] = user.is_staff
    refresh["is_superuser"] = user.is_superuser
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def parse_refresh(raw: str) -> RefreshToken:
    """Signature, expiry and type checked (anything wrong is a 401); whether it was already
    spent is :func:`_spend`'s to say."""
    try:
        return RefreshToken(raw)
    except TokenError as error:
        raise Unauthenticated(DEAD_TOKEN) from error


def live_refresh(raw: str) -> RefreshToken:
    """A refresh token that could be spent right now, looked at without spending it (for
    calls that only ask who holds a live sign-in): neither spent nor of a revoked family.
    Anything else is a 401, as at ``token/refresh``."""
    refresh = parse_refresh(raw)
    spent = BlacklistedToken.objects.filter(token__jti=refresh["jti"]).exists()
    if spent or RevokedTokenFamily.objects.filter(family=family_of(refresh)).exists():
        raise Unauthenticated(DEAD_TOKEN)
    return refresh


def rotate(raw: str) -> dict[str, str]:
    """Trade a live refresh token for a new pair of the same family, killing the old one."""
    refresh = parse_refresh(raw)
    with transaction.atomic():
        if _spend(refresh):
            user = User.objects.filter(pk=refresh["user_id"], is_active=True).first()
            if user is None:
                raise Unauthenticated("No active account found for this token.")
            return issue(user, family=family_of(refresh))  # current email and staff flag, not the old token's
    raise Unauthenticated(DEAD_TOKEN)  # after the commit: a reuse's revocation stays


def sign_out(raw: str, *, user_id: str | None) -> None:
    """Kill a live refresh token: possessing it is the proof. When the caller also sent an
    access token (``user_id``), the refresh token must be theirs. A dead, expired, foreign
    or malformed refresh token is a 401, like at ``token/refresh``."""
    refresh = parse_refresh(raw)
    if user_id is not None and str(refresh["user_id"]) != user_id:
        raise Forbidden("This refresh token belongs to another user.")
    with transaction.atomic():
        spent = _spend(refresh)
    if not spent:
        raise Unauthenticated(DEAD_TOKEN)


def family_of(refresh: RefreshToken) -> str:
    """The sign-in a refresh token descends from. Tokens issued before families existed
    start one named after themselves, so their successors can be revoked with them."""
    return str(refresh.get(FAMILY_CLAIM) or refresh["jti"])


def _spend(refresh: RefreshToken) -> bool:
    """Blacklist the token under a row lock, so of two concurrent uses one wins; True when
    this call spent it. False when it was never ours, its family is revoked, or it was
    spent before: then it has been copied, and its family is revoked in the caller's
    transaction, which must therefore commit (raise the 401 after it, not inside)."""
    outstanding = OutstandingToken.objects.select_for_update().filter(jti=refresh["jti"]).order_by().first()
    if outstanding is None or RevokedTokenFamily.objects.filter(family=family_of(refresh)).exists():
        return False
    _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    if not created:
        _revoke_family(family_of(refresh), user_id=outstanding.user_id)
    return created


def _revoke_family(family: str, *, user_id: object) -> None:
    """Record the family as dead, and forget families whose tokens have all expired by now."""
    _, created = RevokedTokenFamily.objects.get_or_create(family=family, defaults={"user_id": user_id})
    if created:
        logger.warning("A spent refresh token was used again: sign-in %s of user %s revoked", family, user_id)
    expired = timezone.now() - api_settings.REFRESH_TOKEN_LIFETIME - FAMILY_RECORD_MARGIN
    RevokedTokenFamily.objects.filter(revoked_at__lt=expired).delete()
