"""Money, states and form fields, rendered the same way on every page."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import template
from django.conf import settings
from django.forms import BoundField, CheckboxInput
from django.utils import timezone
from django.utils.html import format_html

from storefront.clients.base import money_str
from storefront.clients.orders import PENDING
from storefront.forms import CATEGORY_NAMES

register = template.Library()

TICKET_STATES = {
    "available": ("Free", "text-bg-success"),
    "reserved": ("Held", "text-bg-warning"),
    "sold": ("Sold", "text-bg-secondary"),
}
ORDER_STATES = {
    "created": ("Awaiting payment", "text-bg-warning"),
    "awaiting_payment": ("Awaiting payment", "text-bg-warning"),
    "complete": ("Complete", "text-bg-success"),
    "cancelled": ("Cancelled", "text-bg-secondary"),
    "expired": ("Expired", "text-bg-secondary"),
    "paid": ("Payment received", "text-bg-info"),
}

# Why an order was cancelled, in the buyer's words (the orders service's ``cancel_reason``).
CANCEL_EXPLANATIONS = {
    "expired": "This order was cancelled because its reservation time ran out before it was paid.",
    "by_buyer": "You cancelled this order.",
    "price_changed": (
        "This order was cancelled because the seller changed the ticket just before you reserved it "
        "(its price, or took it off sale). You pay nothing for it: a payment that went through is refunded."
    ),
    "operator": "Our support team cancelled this order. Any payment for it is refunded.",
}
CANCELLED = "This order was cancelled."


@register.filter
def money(value: Decimal | str | None) -> str:
    """``Decimal("1234.5")`` → ``$1,234.50``."""
    if value in (None, ""):
        return ""
    return f"{settings.CURRENCY_SYMBOL}{Decimal(str(value)):,.2f}"


@register.filter
def when(value) -> str:
    """An event's start for people: ``Sat 14 Mar, 20:00`` (the year only when it is not this one)."""
    if not value:
        return ""
    local = timezone.localtime(value)
    year = "" if local.year == timezone.localtime().year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year}, {local:%H:%M}"


@register.filter
def category_label(value: str) -> str:
    return CATEGORY_NAMES.get(value, value.title() if value else "")


@register.filter
def money_value(value: Decimal | str) -> str:
    """``Decimal("20")`` → ``20.00``: money as the APIs take it, for a form to send back."""
    return money_str(Decimal(str(value)))


@register.simple_tag
def cancel_explanation(order: Any) -> str:
    """Why ``order`` was cancelled, for its buyer; a plain "cancelled" when the service did not say."""
    return CANCEL_EXPLANATIONS.get(order.cancel_reason or "", CANCELLED)


@register.simple_tag
def ticket_state(ticket: Any) -> str:
    label, css = TICKET_STATES.get(ticket.status, (ticket.status.title(), "text-bg-light"))
    return format_html('<span class="badge {}" data-state="{}">{}</span>', css, ticket.status, label)


@register.simple_tag
def order_state(order: Any, paid_ids: Iterable[str] = ()) -> str:
    """``paid_ids``: orders this browser paid for, which the orders service may not show complete yet."""
    if order.status in PENDING and order.id in paid_ids:
        status = "paid"
    elif order.has_expired:
        status = "expired"
    else:
        status = order.status
    label, css = ORDER_STATES.get(status, (status.replace("_", " ").title(), "text-bg-light"))
    return format_html('<span class="badge {}" data-state="{}">{}</span>', css, status, label)


@register.filter
def duration(seconds: int) -> str:
    """``312`` → ``5:12``; what the countdown script shows too, before it starts."""
    minutes, secs = divmod(max(0, int(seconds)), 60)
    return f"{minutes}:{secs:02d}"


@register.inclusion_tag("storefront/includes/field.html")
def form_field(field: BoundField, **attrs: Any) -> dict[str, Any]:
    """A labelled Bootstrap field whose help text and errors are tied to the input (``aria-describedby``)."""
    described_by = []
    if field.help_text:
        described_by.append(f"{field.auto_id}_help")
    if field.errors:
        described_by.append(f"{field.auto_id}_error")
    is_check = isinstance(field.field.widget, CheckboxInput)
    css = "form-check-input" if is_check else "form-control"
    widget_attrs = {"class": f"{css} is-invalid" if field.errors else css, **attrs}
    if described_by:
        widget_attrs["aria-describedby"] = " ".join(described_by)
    if field.errors:
        widget_attrs["aria-invalid"] = "true"
    return {"field": field, "widget": field.as_widget(attrs=widget_attrs)}
