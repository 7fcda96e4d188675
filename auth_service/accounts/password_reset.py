"""Password reset by email (docs/api.md, "Password reset").

The link carries the user's id (base64) and a token from Django's reset-token
generator: signed with ``SECRET_KEY``, valid ``PASSWORD_RESET_TIMEOUT`` (one hour), and
bound to the current password hash and last sign-in, so it works once (the new password
changes the hash) and dies when the password changes any other way. Asking for a reset
answers the same whether or not the account exists, so nobody learns who has one.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User, normalize_email
from ticketing_shared.errors import InvalidState
from ticketing_shared.mail import Mail, send_mail

logger = logging.getLogger(__name__)

BAD_LINK = "This reset link is invalid or has already been used."


def reset_url(user: User) -> str:
    """``<site>/reset/<uid>/<token>``: the storefront's reset page for ``user``."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return f"{settings.SITE_URL}/reset/{uid}/{default_token_generator.make_token(user)}"


def request_reset(email: str) -> None:
    """Email a reset link to the active account of ``email``, if there is one; say nothing either way.

    The mail is sent after the request's transaction (none here) and a mail server that
    fails is logged, not told to the caller: the answer must not depend on the account.
    """
    user = User.objects.filter(email=normalize_email(email), is_active=True).first()
    if user is None or not user.has_usable_password():
        return
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    mail = Mail(
        to=user.email,
        subject="Reset your password",
        paragraphs=(
            "Someone, hopefully you, asked to reset the password of your Ticketing account.",
            f"The link below lets you choose a new one. It works once, for {minutes} minutes.",
            "If you did not ask for this, ignore this email: your password stays as it is.",
        ),
        action_label="Choose a new password",
        action_url=reset_url(user),
    )
    try:
        send_mail(mail)
    except Exception:  # a mail server down must not tell the caller the account exists
        logger.exception("Could not send the password reset email of user %s", user.pk)


def _user_from_uid(uid: str) -> User | None:
    """The active user a link's ``uid`` names, or None for anything else (garbage included)."""
    try:
        pk = uuid.UUID(force_str(urlsafe_base64_decode(uid)))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    return User.objects.filter(pk=pk, is_active=True).first()


def confirm_reset(*, uid: str, token: str, password: str) -> User:
    """Set ``password`` if ``uid``/``token`` make a live link: then the link is spent (the hash
    changed) and every refresh token of the user is dead, so every other sign-in ends."""
    user = _user_from_uid(uid)
    if user is None or not default_token_generator.check_token(user, token):
        raise InvalidState(BAD_LINK, field="token")
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as error:
        raise InvalidState(" ".join(error.messages), field="password") from None
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if not default_token_generator.check_token(user, token):  # spent by a concurrent confirm
            raise InvalidState(BAD_LINK, field="token")
        user.set_password(password)
        user.save(update_fields=["password"])
        revoke_all_refresh_tokens(user)
    return user


def revoke_all_refresh_tokens(user: User) -> int:
    """Blacklist every outstanding refresh token of ``user``; returns how many were live."""
    live = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    spent = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in live], ignore_conflicts=True
    )
    return len(spent)
