"""An order: see it, pay for it with a card through Stripe.js, or cancel it; and the list of one's orders."""

from __future__ import annotations

import logging
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from storefront.clients.base import ApiError, ServiceUnavailable, poll
from storefront.clients.orders import PENDING, Order, OrdersClient
from storefront.clients.payments import PaymentsClient
from storefront.forms import PaymentForm
from storefront.navigation import signin_required
from storefront.session import UserSession
from storefront.views.paging import page_number

logger = logging.getLogger(__name__)

PAID = "Payment received. The ticket is yours!"
CANCELLED = "Your order was cancelled and the ticket is back on sale."
AUTHENTICATION_LOST = "The card's authentication could not be finished. Please try again."
PAID_TOO_LATE = "The order was cancelled before your payment went through, so the charge is refunded."


@signin_required
def order_detail(request: HttpRequest, order_id: UUID) -> HttpResponse:
    session = UserSession.of(request)
    order = OrdersClient(session).get(str(order_id))
    if order.id == session.cart_order_id or order.is_open_cart:
        session.remember_cart(order)
    return _render_order(request, order, PaymentForm())


@require_POST
@signin_required
def order_pay(request: HttpRequest, order_id: UUID) -> HttpResponse:
    """Takes the Stripe.js token the page made and has the payments service charge it."""
    session = UserSession.of(request)
    form = PaymentForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            payment = PaymentsClient(session).pay(
                order_id=str(order_id), payment_method=form.cleaned_data["token"],
                expected_total=form.cleaned_data.get("expected_total"),
            )
        except ApiError as error:
            if error.status in (403, 404):
                raise  # not this person's order, or none: the error page says so
            form.add_api_error(error)  # a decline (402) carries Stripe's own message
            status = error.status
        except ServiceUnavailable as error:
            form.add_api_error(error)
            status = 503
        else:
            if payment.needs_authentication:  # 3-D Secure: Stripe.js asks the buyer, then we confirm
                order = OrdersClient(session).get(str(order_id))
                return _render_order(request, order, form, authentication=payment)
            return _paid(request, session, str(order_id))
    order = OrdersClient(session).get(str(order_id))
    return _render_order(request, order, form, status=status)


@require_POST
@signin_required
def order_pay_confirm(request: HttpRequest, order_id: UUID) -> HttpResponse:
    """The browser finished the card's 3-D Secure step with Stripe.js: settle the payment.
    A failure (authentication refused, or not finished) is said on the order page, where
    the buyer can pay again."""
    session = UserSession.of(request)
    try:
        payment_id = str(UUID(request.POST.get("payment_id", "")))
        PaymentsClient(session).confirm(payment_id)
    except ValueError:
        messages.error(request, AUTHENTICATION_LOST)
    except ApiError as error:
        if error.status in (403, 404):
            raise
        messages.error(request, error.message)
    except ServiceUnavailable as error:
        messages.error(request, str(error))
    else:
        return _paid(request, session, str(order_id))
    return redirect("storefront:order", order_id=order_id)


def _paid(request: HttpRequest, session: UserSession, order_id: str) -> HttpResponse:
    """The money is taken: wait a moment for the order to complete, and say so."""
    session.remember_payment(order_id)
    settled = _wait_for_completion(session, order_id)
    if settled is not None and settled.status == "cancelled":  # e.g. the price changed meanwhile
        messages.warning(request, PAID_TOO_LATE)
    else:
        messages.success(request, PAID)
    return redirect("storefront:order", order_id=order_id)


@require_POST
@signin_required
def order_cancel(request: HttpRequest, order_id: UUID) -> HttpResponse:
    try:
        OrdersClient(UserSession.of(request)).cancel(str(order_id))
    except ApiError as error:
        if error.status in (403, 404):
            raise
        messages.error(request, error.message)
    else:
        messages.success(request, CANCELLED)
    return redirect("storefront:order", order_id=order_id)


@signin_required
def my_orders(request: HttpRequest) -> HttpResponse:
    session = UserSession.of(request)
    page = OrdersClient(session).list_mine(page=page_number(request))
    return render(request, "storefront/my_orders.html", {"page": page, "paid_ids": session.paid_order_ids})


def _wait_for_completion(session: UserSession, order_id: str) -> Order | None:
    """The order turns complete when the payment's event reaches the orders service,
    usually within moments: wait for that briefly, so the next page shows it, and return
    the order as last seen (None if the orders service did not answer). The money is
    taken either way, so a slow or failing orders service is no error here; an order
    that ended cancelled instead (its payment lost a race) has its charge refunded."""
    try:
        return poll(
            lambda: OrdersClient(session).get(order_id),
            until=lambda order: order.status not in PENDING,
            timeout=settings.SERVICE_PROPAGATION_WAIT_SECONDS,
        )
    except (ApiError, ServiceUnavailable) as error:
        logger.info("Paid order %s not confirmed yet: %s", order_id, error)
        return None


def _render_order(
    request: HttpRequest, order: Order, form: PaymentForm, *, status: int = 200, authentication=None
) -> HttpResponse:
    paid_ids = UserSession.of(request).paid_order_ids
    context = {
        "order": order,
        "paid_ids": paid_ids,
        # Paid, but the orders service has not heard yet: no pay form, no countdown.
        "confirming": order.status in PENDING and order.id in paid_ids,
        "form": form,
        "stripe_js_url": settings.STRIPE_JS_URL,
        "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        # A payment whose card asks for 3-D Secure: payment.js runs it with Stripe.js.
        "authentication": authentication,
    }
    return render(request, "storefront/order_detail.html", context, status=status)
