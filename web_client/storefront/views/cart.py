"""The cart: the buyer's open order, which "Add to cart" fills and one card payment pays."""

from __future__ import annotations

import logging
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from storefront.clients.base import ApiError, ServiceUnavailable
from storefront.clients.orders import Order, OrdersClient
from storefront.navigation import signin_required
from storefront.session import UserSession

logger = logging.getLogger(__name__)

ADDED = "Added to your cart. It is reserved for you until the cart's timer runs out."
REMOVED = "Removed from your cart; the ticket is back on sale."
EMPTIED = "Your cart is empty now; its tickets are back on sale."
CART_GONE = "Your cart had expired, so a new one was started."


def _open_cart(session: UserSession) -> Order | None:
    """The buyer's open order: the one the session remembers if it is still open, else the
    newest open one the orders service lists (another browser may have started it)."""
    client = OrdersClient(session)
    known = session.cart_order_id
    if known:
        try:
            order = client.get(known)
        except ApiError:
            order = None
        if order is not None and order.is_open_cart:
            return order
    for order in client.list_mine(page=1, size=20).results:
        if order.is_open_cart:
            return order
    return None


@signin_required
def cart(request: HttpRequest) -> HttpResponse:
    """The cart is the open order's page: its tickets, total, timer and card payment."""
    session = UserSession.of(request)
    order = _open_cart(session)
    session.remember_cart(order)
    if order is None:
        return render(request, "storefront/cart_empty.html")
    return redirect("storefront:order", order_id=order.id)


@require_POST
@signin_required
def cart_add(request: HttpRequest, ticket_id: UUID) -> HttpResponse:
    """Reserve the ticket into the open order, or start one with it."""
    session = UserSession.of(request)
    client = OrdersClient(session)
    try:
        order = _open_cart(session)
        if order is not None:
            try:
                order = client.add_ticket(order.id, ticket_id=str(ticket_id))
            except ApiError as error:
                if error.status != 400 or "unpaid order" not in error.message:
                    raise
                order = None  # it closed meanwhile (expired or being paid): start a new one
        if order is None:
            order = client.create_cart(ticket_id=str(ticket_id))
    except ApiError as error:
        messages.error(request, error.message)
        return redirect("storefront:ticket", ticket_id=ticket_id)
    except ServiceUnavailable as error:
        messages.error(request, str(error))
        return redirect("storefront:ticket", ticket_id=ticket_id)
    session.remember_cart(order)
    messages.success(request, ADDED)
    return redirect("storefront:order", order_id=order.id)


@require_POST
@signin_required
def cart_remove(request: HttpRequest, order_id: UUID, ticket_id: UUID) -> HttpResponse:
    session = UserSession.of(request)
    try:
        order = OrdersClient(session).remove_ticket(str(order_id), ticket_id=str(ticket_id))
    except ApiError as error:
        if error.status in (403,):
            raise
        messages.error(request, error.message)
        return redirect("storefront:order", order_id=order_id)
    session.remember_cart(order)
    messages.success(request, EMPTIED if order.status == "cancelled" else REMOVED)
    return redirect("storefront:order", order_id=order_id)
