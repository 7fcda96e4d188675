"""Our own error pages: 403, 404, 500 and 503, in the storefront's layout."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader

PAGES = {
    400: ("Something is not right", "That request could not be completed."),
    403: ("Not yours", "You are not allowed to see this page."),
    404: ("Page not found", "We looked everywhere, but this page does not exist (any more)."),
    500: ("Something went wrong", "Sorry, something broke on our side. Please try again in a moment."),
    503: ("Temporarily unavailable", "Part of the marketplace is not answering right now. Please try again."),
}


def error_page(request: HttpRequest, status: int, *, message: str = "") -> HttpResponse:
    heading, default = PAGES.get(status, PAGES[400])
    response = render(
        request, "error.html", {"status": status, "heading": heading, "message": message or default}, status=status
    )
    response.storefront_page = True
    return response


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 403)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, 400)


def server_error(request: HttpRequest) -> HttpResponse:
    """No context processors: whatever broke (Redis, a template) must not break this page too."""
    heading, message = PAGES[500]
    html = loader.get_template("error.html").render({"status": 500, "heading": heading, "message": message})
    return HttpResponse(html, status=500)
