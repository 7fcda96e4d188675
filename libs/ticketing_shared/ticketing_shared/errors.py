"""One error shape for every API failure: ``{"errors": [{"message", "field"?}]}``."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
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


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "Request body too large."
    default_code = "payload_too_large"


def exception_handler(exc: Exception, context: dict[str, Any]):
    """DRF's handler, then our shape; Django's own exceptions mapped to DRF's first."""
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
