"""An order: see it, pay for it with a card through Stripe.js, or cancel it; and the list of one's orders."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from storefront.clients.base import ApiError, ServiceUnavailable
from storefront.clients.orders import Order, OrdersClient
from storefront.clients.payments import PaymentsClient
from storefront.forms import PaymentForm
from storefront.navigation import signin_required
from storefront.session import UserSession
from storefront.views.paging import page_number

PAID = "Payment received. The ticket is yours!"
CANCELLED = "Your order was cancelled and the ticket is back on sale."


@signin_required
def order_detail(request: HttpRequest, order_id: str) -> HttpResponse:
    order = OrdersClient(UserSession.of(request)).get(str(order_id))
    return _render_order(request, order, PaymentForm())


@require_POST
@signin_required
def order_pay(request: HttpRequest, order_id: str) -> HttpResponse:
    """Takes the Stripe.js token the page made and has the payments service charge it."""
    session = UserSession.of(request)
    form = PaymentForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            PaymentsClient(session).pay(order_id=str(order_id), payment_method=form.cleaned_data["token"])
        except ApiError as error:
            if error.status in (403, 404):
                raise  # not this person's order, or none: the error page says so
            form.add_api_error(error)  # a decline (402) carries Stripe's own message
            status = error.status
        except ServiceUnavailable as error:
            form.add_api_error(error)
            status = 503
        else:
            messages.success(request, PAID)
            return redirect("storefront:order", order_id=order_id)
    order = OrdersClient(session).get(str(order_id))
    return _render_order(request, order, form, status=status)


@require_POST
@signin_required
def order_cancel(request: HttpRequest, order_id: str) -> HttpResponse:
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
    page = OrdersClient(UserSession.of(request)).list_mine(page=page_number(request))
    return render(request, "storefront/my_orders.html", {"page": page})


def _render_order(request: HttpRequest, order: Order, form: PaymentForm, *, status: int = 200) -> HttpResponse:
    context = {
        "order": order,
        "form": form,
        "stripe_js_url": settings.STRIPE_JS_URL,
        "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
    }
    return render(request, "storefront/order_detail.html", context, status=status)
