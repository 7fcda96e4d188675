"""Where to send a person next: sign-in with a way back, and only ever to our own pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

from storefront.session import UserSession

SIGN_IN_FIRST = "Please sign in to continue."


def next_path(request: HttpRequest) -> str:
    """The ``next`` the request carries, if it is a page of this site; else ``""``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def safe_next(request: HttpRequest) -> str:
    """Where to go after signing in or up: ``next``, or the home page."""
    return next_path(request) or resolve_url("storefront:home")


def signin_redirect(request: HttpRequest) -> HttpResponseRedirect:
    """To the sign-in page, coming back here (or, after a POST, to the page the form was on)."""
    back = request.get_full_path() if request.method == "GET" else _referring_path(request)
    url = resolve_url("storefront:signin")
    return redirect(f"{url}?{urlencode({'next': back})}" if back else url)


def _referring_path(request: HttpRequest) -> str:
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}):
        parts = urlsplit(referer)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return ""


def signin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if UserSession.of(request).user is None:
            messages.info(request, SIGN_IN_FIRST)
            return signin_redirect(request)
        return view(request, *args, **kwargs)

    return wrapper


def signed_out_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Sign-in and sign-up pages send a signed-in person on to where they were going."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if UserSession.of(request).user is not None:
            return redirect(safe_next(request))
        return view(request, *args, **kwargs)

    return wrapper
