"""Service failures the views leave alone become pages a person can read, never a stack trace."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpRequest, HttpResponse

from storefront.clients.base import ApiError, ServiceUnavailable, SessionExpired
from storefront.errors import error_page
from storefront.navigation import signin_redirect
from storefront.session import UserSession

logger = logging.getLogger(__name__)

SESSION_EXPIRED = "Your session has expired. Please sign in again."


class ServiceErrorMiddleware:
    """A service down → 503 page; a dead session → sign-in page with a message;
    an API's 403/404 → our friendly 403/404 page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 404 and not getattr(response, "storefront_page", False):
            # An unknown URL: our page, also under DEBUG (where Django would show its own).
            return error_page(request, 404)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, ServiceUnavailable):
            return error_page(request, 503, message=str(exception))
        if isinstance(exception, SessionExpired):
            UserSession.of(request).sign_out()
            messages.warning(request, SESSION_EXPIRED)
            return signin_redirect(request)
        if isinstance(exception, ApiError):
            if exception.status == 404:  # the API's "Not found." says less than our page
                return error_page(request, 404)
            if exception.status == 403:
                return error_page(request, 403, message=exception.message)
            logger.warning("Unhandled %s from %s: %s", exception.status, exception.service, exception.message)
            return error_page(request, 400, message=exception.message)
        return None
