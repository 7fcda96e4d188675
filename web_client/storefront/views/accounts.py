"""Sign up, sign in, sign out."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from storefront.clients.auth import AuthClient
from storefront.clients.base import ApiError, ServiceUnavailable, SessionExpired
from storefront.forms import SignInForm, SignUpForm
from storefront.navigation import next_path, safe_next, signed_out_only
from storefront.session import UserSession

logger = logging.getLogger(__name__)

TOO_MANY_ATTEMPTS = "Too many failed sign-in attempts. Please wait a few minutes and try again."


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
