"""One operator account for every admin: staff users sign in with their auth-service credentials.

The admin login form of a service hands the email and password to this backend,
which signs in at the auth service, verifies the RS256 access token it gets back
with the same key as every API call, and lets in only tokens that say ``is_staff``.
A local user mirrors the operator (created or updated on the fly, no usable
password), so Django's admin, sessions and history work as usual.

An admin session lasts only as long as the auth service keeps confirming its operator:
:class:`AdminRevalidationMiddleware` asks again at most ``ADMIN_REVALIDATE_SECONDS`` after
the last answer, with the refresh token of the operator's sign-in, and logs the session
out when the operator is no longer staff, deactivated or deleted.

The call names the operator's own address (``X-Forwarded-For``, see
``ticketing_shared.clientip``): the auth service throttles failed sign-ins per client
address, and without it every operator signing in here would count as this service's
one address, locked out together by anyone's failures.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model, logout
from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from rest_framework_simplejwt.exceptions import TokenError

from ticketing_shared import clientip
from ticketing_shared.auth import ServiceAccessToken

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
            body = response.json()
            claims = ServiceAccessToken(body["access"])
        except (TokenError, KeyError, ValueError) as exc:
            logger.warning("Admin sign-in: the auth service's token does not verify: %s", exc)
            return None
        if not claims.get("is_staff"):
            logger.info("Admin sign-in refused: %s is not staff", username)
            return None
        user = self._mirror(claims)
        user.admin_sso_refresh = body.get("refresh") or ""  # into the session: see remember_sign_in
        return user

    def get_user(self, user_id):
        user = get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
        return user if user and user.is_staff else None

    @staticmethod
    def _mirror(claims: ServiceAccessToken):
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


# Re-validation of open admin sessions

SESSION_STATE = "admin_sso"  # {"refresh": <the sign-in's refresh token>, "confirmed_at": <epoch>, "failed_at"?}
BACKEND = f"{AuthServiceBackend.__module__}.{AuthServiceBackend.__qualname__}"
# While the auth service does not answer, ask it again at most this often, so that admin
# requests in the grace period do not each wait out a timeout.
RETRY_AFTER_FAILURE_SECONDS = 5.0
REVOKED_MESSAGE = "Your admin session has ended: the auth service no longer confirms your staff access."


class AuthServiceUnreachable(Exception):
    """The auth service gave no answer about the operator (down, timing out, failing)."""


@receiver(user_logged_in, dispatch_uid="ticketing_shared.admin_sso.remember_sign_in")
def remember_sign_in(sender, request: HttpRequest | None, user, **kwargs) -> None:
    """Keep the refresh token of an operator's sign-in in the new session: the credential
    :class:`AdminRevalidationMiddleware` asks the auth service with."""
    refresh = getattr(user, "admin_sso_refresh", "")
    if request is not None and refresh:
        request.session[SESSION_STATE] = {"refresh": refresh, "confirmed_at": time.time()}


def operator_status(refresh: str) -> dict[str, Any] | None:
    """What the auth service says now about the operator who holds ``refresh``
    (``{"is_staff", "is_superuser", ...}``), or None when it refuses the token: account
    deleted or deactivated, token expired or revoked. Raises :class:`AuthServiceUnreachable`
    when it gives no answer."""
    base_url = settings.AUTH_SERVICE_URL
    if not base_url:
        raise AuthServiceUnreachable("AUTH_SERVICE_URL is not set")
    try:
        response = requests.post(f"{base_url.rstrip('/')}/api/users/operator-status", json={"refresh": refresh},
                                 timeout=settings.AUTH_SERVICE_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise AuthServiceUnreachable(str(exc)) from exc
    if response.status_code in (400, 401, 403, 404):
        return None
    if response.status_code != 200:
        raise AuthServiceUnreachable(f"HTTP {response.status_code}")
    try:
        status = response.json()
    except ValueError as exc:
        raise AuthServiceUnreachable(f"not JSON: {exc}") from exc
    return status if isinstance(status, dict) else None


class AdminRevalidationMiddleware:
    """Logs out admin sessions whose operator the auth service no longer confirms as staff.

    The mirror user is staff for as long as its session lives (two weeks), so taking staff
    away, deactivating or deleting the account in the auth service changed nothing for a
    session already open. Now, once a session's last confirmation is
    ``ADMIN_REVALIDATE_SECONDS`` old, its next request asks the auth service again with
    the operator's own refresh token, and the session is logged out unless the answer is
    "active and staff"; the admin then sends the browser to its login page. The token is
    only shown, never rotated, so concurrent requests of one session may ask at once.

    When the auth service gives no answer, the session goes on only while its last
    confirmation is younger than ``ADMIN_REVALIDATE_SECONDS + ADMIN_REVALIDATE_GRACE_SECONDS``,
    then it fails closed. Sessions opened before this check existed hold no token: they end.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and session.get(BACKEND_SESSION_KEY) == BACKEND and not still_operator(request):
            end_session(request)
        return self.get_response(request)


def still_operator(request: HttpRequest) -> bool:
    """Whether the session's operator may go on, asking the auth service when the last answer is too old."""
    state = request.session.get(SESSION_STATE) or {}
    refresh = state.get("refresh")
    if not refresh:
        return False
    now = time.time()
    age = now - state.get("confirmed_at", 0.0)
    if age < settings.ADMIN_REVALIDATE_SECONDS:
        return True
    in_grace = age < settings.ADMIN_REVALIDATE_SECONDS + settings.ADMIN_REVALIDATE_GRACE_SECONDS
    if in_grace and now - state.get("failed_at", 0.0) < RETRY_AFTER_FAILURE_SECONDS:
        return True
    try:
        status = operator_status(refresh)
    except AuthServiceUnreachable as exc:
        logger.warning("Admin session of %s: the auth service does not answer (%s); %s", request.user, exc,
                       "within the grace" if in_grace else "grace over, logging out")
        request.session[SESSION_STATE] = {**state, "failed_at": now}
        return in_grace
    if not (status and status.get("is_staff")):
        logger.info("Admin session of %s ended: the auth service no longer confirms staff", request.user)
        return False
    _follow_superuser(request, bool(status.get("is_superuser")))
    request.session[SESSION_STATE] = {"refresh": refresh, "confirmed_at": now}
    return True


def _follow_superuser(request: HttpRequest, is_superuser: bool) -> None:
    """A superuser demoted to plain staff in the auth service loses the superuser powers here too."""
    user = request.user
    if user.is_authenticated and user.is_superuser != is_superuser:
        get_user_model()._default_manager.filter(pk=user.pk).update(is_superuser=is_superuser)
        user.is_superuser = is_superuser


def end_session(request: HttpRequest) -> None:
    logout(request)
    if hasattr(request, "_messages"):
        messages.warning(request, REVOKED_MESSAGE)
