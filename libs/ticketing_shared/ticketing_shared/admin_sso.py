"""One operator account for every admin: staff users sign in with their auth-service credentials.

The admin login form of a service hands the email and password to this backend,
which signs in at the auth service, verifies the RS256 access token it gets back
with the same key as every API call, and lets in only tokens that say ``is_staff``.
A local user mirrors the operator (created or updated on the fly, no usable
password), so Django's admin, sessions and history work as usual.

The call names the operator's own address (``X-Forwarded-For``, see
``ticketing_shared.clientip``): the auth service throttles failed sign-ins per client
address, and without it every operator signing in here would count as this service's
one address, locked out together by anyone's failures.
"""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.db import transaction
from django.http import HttpRequest
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from ticketing_shared import clientip

logger = logging.getLogger(__name__)


class AuthServiceBackend(BaseBackend):
    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs):
        base_url = settings.AUTH_SERVICE_URL
        if not (base_url and username and password):
            return None
        try:
            response = requests.post(
                f"{base_url.rstrip('/')}/api/users/signin",
                json={"email": username, "password": password},
                headers=_forwarded(request),
                timeout=settings.AUTH_SERVICE_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            logger.warning("Admin sign-in: the auth service is unreachable: %s", exc)
            return None
        if response.status_code != 200:
            logger.info("Admin sign-in refused by the auth service (%s) for %s", response.status_code, username)
            return None
        try:
            claims = AccessToken(response.json()["access"])
        except (TokenError, KeyError, ValueError) as exc:
            logger.warning("Admin sign-in: the auth service's token does not verify: %s", exc)
            return None
        if not claims.get("is_staff"):
            logger.info("Admin sign-in refused: %s is not staff", username)
            return None
        return self._mirror(claims)

    def get_user(self, user_id):
        user = get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
        return user if user and user.is_staff else None

    @staticmethod
    def _mirror(claims: AccessToken):
        email = claims.get("email") or str(claims["user_id"])
        with transaction.atomic():
            user, _ = get_user_model()._default_manager.select_for_update().update_or_create(
                username=email,
                defaults={
                    "email": email,
                    "is_staff": True,
                    "is_active": True,
                    "is_superuser": bool(claims.get("is_superuser", False)),
                },
            )
            if user.has_usable_password():
                user.set_unusable_password()  # the password lives in the auth service only
                user.save(update_fields=["password"])
        return user


def _forwarded(request: HttpRequest | None) -> dict[str, str]:
    """The operator's browser (and the proxies before us), as a proxy would name them."""
    chain = clientip.forwarded_for(request.META) if request is not None else ""
    return {clientip.HEADER: chain} if chain else {}
