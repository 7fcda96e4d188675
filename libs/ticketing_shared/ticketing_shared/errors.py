"""Domain errors, and one error shape for every API failure: ``{"errors": [{"message", "field"?}]}``.

Services, handlers and admin actions raise and catch :class:`DomainError` subclasses
only; they know nothing of HTTP. :func:`exception_handler` maps each kind to its
status code once, here.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

API_PATH_PREFIXES = ("/api/", "/healthz", "/readyz", "/metrics")


def error_body(message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message}
    if field:
        error["field"] = field
    return {"errors": [error]}


def error_list(detail: Any, field: str | None = None) -> list[dict[str, str]]:
    """Flatten DRF's nested error details into a list of ``{message, field}``."""
    if isinstance(detail, dict):
        if "detail" in detail and "code" in detail:  # simplejwt's token errors
            return error_list(detail["detail"], field)
        errors: list[dict[str, str]] = []
        for key, value in detail.items():
            if key in (api_settings.NON_FIELD_ERRORS_KEY, "detail"):
                child = field
            else:
                child = f"{field}.{key}" if field else str(key)
            errors += error_list(value, child)
        return errors
    if isinstance(detail, (list, tuple)):
        errors = []
        for item in detail:
            errors += error_list(item, field)
        return errors
    error = {"message": str(detail)}
    if field:
        error["field"] = field
    return [error]


class DomainError(Exception):
    """A rule of the domain said no. ``field`` names the input it is about, if any."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Unauthenticated(DomainError):
    """Who the caller is could not be established: a dead, spent or bad credential."""

    status_code = 401


class TooManyAttempts(DomainError):
    """Locked out for a while; ``retry_after`` seconds become the ``Retry-After`` header."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(DomainError):
    """It does not exist (or the caller may not know that it does)."""

    status_code = 404


class Forbidden(DomainError):
    """It exists, and it is not the caller's."""

    status_code = 403


class InvalidState(DomainError):
    """Not now: the thing is in a state that does not allow it (reserved, paid, expired)."""

    status_code = 400


class Conflict(DomainError):
    """Somebody else changed it meanwhile, or what the caller saw is no longer true."""

    status_code = 409


class PaymentRefused(DomainError):
    """The card was declined."""

    status_code = 402


class Unavailable(DomainError):
    """A system we depend on does not answer; trying again later may work."""

    status_code = 503


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "Request body too large."
    default_code = "payload_too_large"


def exception_handler(exc: Exception, context: dict[str, Any]):
    """Domain errors by their kind; then DRF's handler, with Django's own exceptions mapped to
    DRF's first, in our shape."""
    if isinstance(exc, DomainError):
        response = Response(error_body(exc.message, exc.field), status=exc.status_code)
        if isinstance(exc, TooManyAttempts):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = {"errors": error_list(response.data)}
    return response


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith(API_PATH_PREFIXES)


class ApiErrorMiddleware:
    """No HTML error page ever leaves an API path: 404s of the URL resolver, 405s and
    unhandled exceptions become JSON in the shared shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and is_api_path(request.path)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            status = response.status_code
            message = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
            replaced = JsonResponse(error_body(message), status=status)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    replaced[header] = response[header]
            return replaced
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        if isinstance(exception, Http404):
            return JsonResponse(error_body("Not found."), status=404)
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(error_body(PayloadTooLarge.default_detail), status=413)
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return JsonResponse(error_body("Internal server error."), status=500)
