"""Sign up, sign in, sign out, and reset a forgotten password."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from storefront.clients.auth import AuthClient
from storefront.clients.base import ApiError, ServiceUnavailable, SessionExpired
from storefront.forms import PasswordResetForm, SetPasswordForm, SignInForm, SignUpForm
from storefront.navigation import next_path, safe_next, signed_out_only
from storefront.session import UserSession

logger = logging.getLogger(__name__)

TOO_MANY_ATTEMPTS = "Too many failed sign-in attempts. Please wait a few minutes and try again."
TOO_MANY_RESETS = "Too many password reset requests from your address. Please wait a while and try again."


@signed_out_only
def signup(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            signed_in = AuthClient().signup(**form.cleaned_data)
        except (ApiError, ServiceUnavailable) as error:
            form.add_api_error(error)
        else:
            UserSession.of(request).sign_in(signed_in)
            messages.success(request, f"Welcome, {signed_in.email}! Your account is ready.")
            return redirect(safe_next(request))
    return render(
        request,
        "storefront/signup.html",
        {"form": form, "next": next_path(request)},
        status=400 if form.errors else 200,
    )


@signed_out_only
def signin(request: HttpRequest) -> HttpResponse:
    form = SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            signed_in = AuthClient().signin(**form.cleaned_data)
        except ApiError as error:
            if error.status == 429:
                form.add_error(None, TOO_MANY_ATTEMPTS)
            else:
                form.add_api_error(error)
        except ServiceUnavailable as error:
            form.add_api_error(error)
        else:
            UserSession.of(request).sign_in(signed_in)
            messages.success(request, f"Signed in as {signed_in.email}.")
            return redirect(safe_next(request))
    return render(
        request,
        "storefront/signin.html",
        {"form": form, "next": next_path(request)},
        status=400 if form.errors else 200,
    )


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    """Kills the refresh token at the auth service, then forgets the session here.

    The session is forgotten even when the auth service cannot be reached: the
    tokens only ever lived in it, so nobody can use them afterwards.
    """
    session = UserSession.of(request)
    if session.user is not None:
        try:
            AuthClient(session).signout(refresh=lambda: session.refresh_token)
        except (ApiError, ServiceUnavailable, SessionExpired) as error:
            logger.info("Sign-out at the auth service failed (%s); signing out here anyway", error)
        session.sign_out()
        messages.success(request, "You have signed out.")
    return redirect("storefront:home")


RESET_SENT = (
    "If an account exists for {email}, we have emailed it a link to choose a new password. The link works for an hour."
)
PASSWORD_CHANGED = "Your password was changed. Sign in with the new one; every other session was signed out."


@signed_out_only
def password_forgot(request: HttpRequest) -> HttpResponse:
    """Ask for a reset link. The answer never says whether the email has an account."""
    form = PasswordResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            AuthClient().request_password_reset(email=form.cleaned_data["email"])
        except ApiError as error:
            if error.status == 429:
                form.add_error(None, TOO_MANY_RESETS)
            else:
                form.add_api_error(error)
        except ServiceUnavailable as error:
            form.add_api_error(error)
        else:
            return render(request, "storefront/password_forgot.html",
                          {"sent": RESET_SENT.format(email=form.cleaned_data["email"])})
    return render(request, "storefront/password_forgot.html", {"form": form}, status=400 if form.errors else 200)


def password_reset(request: HttpRequest, uid: str, token: str) -> HttpResponse:
    """The emailed link's page: choose a new password. A bad or used link says so, with a way on."""
    form = SetPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            AuthClient().confirm_password_reset(uid=uid, token=token, password=form.cleaned_data["password"])
        except (ApiError, ServiceUnavailable) as error:
            form.add_api_error(error)
            if isinstance(error, ApiError) and any(item.field in ("token", "uid") for item in error.errors):
                return render(request, "storefront/password_reset.html", {"form": None, "bad_link": True},
                              status=400)
        else:
            UserSession.of(request).sign_out()
            messages.success(request, PASSWORD_CHANGED)
            return redirect("storefront:signin")
    return render(request, "storefront/password_reset.html", {"form": form}, status=400 if form.errors else 200)
