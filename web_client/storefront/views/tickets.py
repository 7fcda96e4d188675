"""Browse, sell, edit and buy tickets."""

from __future__ import annotations

from urllib.parse import urlencode
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from storefront.clients.base import ApiError, ServiceUnavailable
from storefront.clients.orders import OrdersClient
from storefront.clients.tickets import Ticket, TicketsClient
from storefront.errors import error_page
from storefront.forms import CATEGORIES, BuyForm, CatalogFilterForm, EventDetailsForm
from storefront.navigation import signin_required
from storefront.session import UserSession
from storefront.templatetags.storefront import money
from storefront.views.paging import page_number

HOME_PAGE_SIZE = 12
NOT_YOURS = "Only the seller can edit this ticket."
RESERVED = "The ticket is reserved for you. Pay below to keep it."
NOT_ORDERABLE_YET = "This ticket cannot be ordered just yet. Please try again in a moment."
PRICE_CHANGED = (
    "The seller changed the price: this ticket now costs {price}. "
    "Nothing was reserved; buy it again if you still want it."
)
PRICE_CHANGED_UNKNOWN = (
    "The seller changed the price of this ticket. "
    "Nothing was reserved; check the new price and buy it again if you still want it."
)
PRICE_NOT_SENT = "Please check the ticket's price and press Buy again."


UNLISTED = "“{title}” is no longer for sale."


def home(request: HttpRequest) -> HttpResponse:
    """The catalog: search, filters and sort from the URL (so a search can be shared), facet counts."""
    # A NUL can be in no ticket (and no browser types one): dropped from every value.
    data = QueryDict(mutable=True)
    for name, values in request.GET.lists():
        data.setlist(name, [value.replace("\x00", "") for value in values])
    if "q" not in data and "search" in data:  # links of the first release
        data["q"] = data["search"]
    form = CatalogFilterForm(data)
    filters = form.api_filters()
    client_error = None
    try:
        page = TicketsClient().list_available(filters=filters, page=page_number(request), size=HOME_PAGE_SIZE)
    except ApiError as error:
        if error.status != 400:
            raise
        client_error, page = error.message, None
    query = urlencode([(name, part) for name, value in filters.items() for part in
                       (value.split(",") if name == "category" else [value])])
    facets = page.facets if page else {}
    chosen = set(data.getlist("category"))
    categories = [
        {"value": value, "label": label, "count": facets.get("category", {}).get(value, 0), "checked": value in chosen}
        for value, label in CATEGORIES
    ]
    cities = dict(facets.get("city", {}))
    if filters.get("city") and filters["city"] not in cities:
        cities[filters["city"]] = 0
    context = {
        "page": page, "form": form, "filters": filters, "query": query, "categories": categories,
        "cities": sorted(cities.items(), key=lambda item: (-item[1], item[0])), "client_error": client_error,
        "search": filters.get("q", ""), "filtering": any(k != "sort" for k in filters),
        "active_count": sum(1 for k in filters if k not in ("q", "sort")),
    }
    return render(request, "storefront/home.html", context, status=400 if client_error else 200)


def ticket_detail(request: HttpRequest, ticket_id: UUID) -> HttpResponse:
    ticket = TicketsClient().get(str(ticket_id))
    user = UserSession.of(request).user
    is_seller = user is not None and user.id == ticket.user_id
    return render(request, "storefront/ticket_detail.html", {"ticket": ticket, "is_seller": is_seller})


@signin_required
def ticket_create(request: HttpRequest) -> HttpResponse:
    form = EventDetailsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ticket = TicketsClient(UserSession.of(request)).create(
                title=form.cleaned_data["title"], price=form.cleaned_data["price"], **form.details()
            )
        except (ApiError, ServiceUnavailable) as error:
            form.add_api_error(error)
        else:
            messages.success(request, f"“{ticket.title}” is on sale.")
            return redirect("storefront:ticket", ticket_id=ticket.id)
    return render(
        request, "storefront/ticket_form.html", {"form": form, "ticket": None}, status=400 if form.errors else 200
    )


@signin_required
def ticket_edit(request: HttpRequest, ticket_id: UUID) -> HttpResponse:
    session = UserSession.of(request)
    client = TicketsClient(session)
    ticket = client.get(str(ticket_id))
    if session.user is None or ticket.user_id != session.user.id:
        return error_page(request, 403, message=NOT_YOURS)
    if request.method != "POST":
        form = EventDetailsForm(initial=_form_values(ticket))
    else:
        form = EventDetailsForm(request.POST)
        if form.is_valid():
            try:
                ticket = client.update(ticket.id, title=form.cleaned_data["title"], price=form.cleaned_data["price"],
                                       **form.details(all_fields=True))
            except (ApiError, ServiceUnavailable) as error:
                form.add_api_error(error)
            else:
                messages.success(request, f"“{ticket.title}” was updated.")
                return redirect("storefront:ticket", ticket_id=ticket.id)
    return render(
        request, "storefront/ticket_form.html", {"form": form, "ticket": ticket}, status=400 if form.errors else 200
    )


@signin_required
def my_tickets(request: HttpRequest) -> HttpResponse:
    """What I sell (paged) and what I own (bought or received), apart."""
    client = TicketsClient(UserSession.of(request))
    page = client.list_mine(page=page_number(request))
    owned = client.list_owned(page=1, size=100)
    return render(request, "storefront/my_tickets.html", {"page": page, "owned": owned})


@require_POST
@signin_required
def ticket_buy(request: HttpRequest, ticket_id: UUID) -> HttpResponse:
    """Reserve at the price the page showed (``expected_total``): never at one the buyer did not see."""
    form = BuyForm(request.POST)
    if not form.is_valid():
        messages.error(request, PRICE_NOT_SENT)
        return redirect("storefront:ticket", ticket_id=ticket_id)
    try:
        order = OrdersClient(UserSession.of(request)).create(
            ticket_id=str(ticket_id), expected_total=form.cleaned_data["expected_total"]
        )
    except ApiError as error:
        if error.status == 409:
            messages.warning(request, _price_changed(str(ticket_id)))
        else:
            messages.error(request, NOT_ORDERABLE_YET if error.status == 404 else error.message)
        return redirect("storefront:ticket", ticket_id=ticket_id)
    messages.success(request, RESERVED)
    return redirect("storefront:order", order_id=order.id)


def _price_changed(ticket_id: str) -> str:
    """What to tell a buyer whose price is out of date, with the new price when the tickets service says it."""
    try:
        ticket = TicketsClient().get(ticket_id)
    except (ApiError, ServiceUnavailable):
        return PRICE_CHANGED_UNKNOWN
    return PRICE_CHANGED.format(price=money(ticket.price))


def _form_values(ticket: Ticket) -> dict:
    return {"title": ticket.title, "price": ticket.price, "starts_at": ticket.starts_at, "venue": ticket.venue,
            "city": ticket.city, "category": ticket.category, "description": ticket.description}


@require_POST
@signin_required
def ticket_unlist(request: HttpRequest, ticket_id: UUID) -> HttpResponse:
    """The seller takes a free ticket off sale; it is gone from the list and its page."""
    client = TicketsClient(UserSession.of(request))
    ticket = client.get(str(ticket_id))
    try:
        client.unlist(ticket.id)
    except ApiError as error:
        if error.status == 403:
            return error_page(request, 403, message="Only the seller can unlist this ticket.")
        messages.error(request, error.message)
        return redirect("storefront:ticket", ticket_id=ticket.id)
    messages.success(request, UNLISTED.format(title=ticket.title))
    return redirect("storefront:my_tickets")
