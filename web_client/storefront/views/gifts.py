"""Giving a ticket one owns, and claiming one given (``/gifts/<code>``)."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from storefront.clients.base import ApiError
from storefront.clients.tickets import TicketsClient
from storefront.navigation import signin_required
from storefront.session import UserSession

GIFT_MADE = "Your gift link is ready: send it to the person you are giving the ticket to."
GIFT_REVOKED = "The gift link no longer works; the ticket stays yours."
CLAIMED = "“{title}” is yours now. Enjoy!"


@require_POST
@signin_required
def gift_create(request: HttpRequest, ticket_id: UUID) -> HttpResponse:
    try:
        code = TicketsClient(UserSession.of(request)).gift(str(ticket_id))
    except ApiError as error:
        messages.error(request, error.message)
    else:
        link = request.build_absolute_uri(reverse("storefront:gift", kwargs={"code": code}))
        messages.success(request, f"{GIFT_MADE} {link}")
    return redirect("storefront:my_tickets")


@require_POST
@signin_required
def gift_revoke(request: HttpRequest, code: str) -> HttpResponse:
    try:
        TicketsClient(UserSession.of(request)).revoke_gift(code)
    except ApiError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, GIFT_REVOKED)
    return redirect("storefront:my_tickets")


def gift(request: HttpRequest, code: str) -> HttpResponse:
    """The link a giver sends. Signed out, it offers signing in or up and comes back here;
    signed in, one press claims the ticket."""
    session = UserSession.of(request)
    if request.method == "POST":
        if session.user is None:
            return redirect(f"{reverse('storefront:signin')}?next={request.path}")
        try:
            ticket = TicketsClient(session).claim_gift(code)
        except ApiError as error:
            page = render(request, "storefront/gift.html", {"code": code, "error": error.message},
                          status=error.status if error.status in (400, 404) else 400)
            page.storefront_page = True  # our own answer, not a missing page
            return page
        messages.success(request, CLAIMED.format(title=ticket.title))
        return redirect("storefront:my_tickets")
    return render(request, "storefront/gift.html", {"code": code})
