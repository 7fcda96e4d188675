"""Browsing, selling, editing and buying tickets, against stubbed tickets and orders services."""

from __future__ import annotations

import json

import pytest
import requests
from responses import matchers

from tests.conftest import (
    BUYER_ID,
    ORDERS,
    SELLER_ID,
    TICKETS,
    bearer,
    errors,
    flashes,
    order_json,
    page_json,
    ticket_json,
)


def test_home_lists_free_tickets_in_the_order_the_service_gives(client, api):
    newest, older = ticket_json(title="Opera gala", price="1234.5"), ticket_json(title="Jazz night")
    api.get(
        f"{TICKETS}/api/tickets",
        json=page_json([newest, older]),
        match=[matchers.query_param_matcher({"limit": "12", "offset": "0"})],
    )

    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Tickets for sale · Ticket Market</title>" in html
    assert html.index("Opera gala") < html.index("Jazz night")
    assert "$1,234.50" in html and "$20.00" in html
    assert f'href="/tickets/{newest["id"]}"' in html
    assert 'class="pagination' not in html  # one page only


def test_searching_asks_the_service_and_pages_keep_the_search(client, api):
    results = [ticket_json(title=f"Jazz {n}") for n in range(12)]
    api.get(
        f"{TICKETS}/api/tickets",
        json=page_json(results, count=30),
        match=[matchers.query_param_matcher({"q": "jazz", "limit": "12", "offset": "12"})],
    )

    response = client.get("/", {"search": "  jazz ", "page": "2"})

    html = response.content.decode()
    assert "30 tickets matching “jazz”" in html
    assert 'value="jazz"' in html
    assert "Page 2 of 3" in html
    assert 'href="?q=jazz&amp;page=1"' in html
    assert 'href="?q=jazz&amp;page=3"' in html
    assert "<title>“jazz”: tickets for sale · Ticket Market</title>" in html


def test_a_search_that_finds_nothing_says_so(client, api):
    api.get(f"{TICKETS}/api/tickets", json=page_json([]))
    html = client.get("/", {"search": "polka"}).content.decode()
    assert "No tickets match “polka”." in html


def test_a_nul_in_the_search_is_dropped(client, api):
    """``/?search=%00``: no title holds a NUL, so the search goes on without it."""
    api.get(
        f"{TICKETS}/api/tickets",
        json=page_json([ticket_json()]),
        match=[matchers.query_param_matcher({"limit": "12", "offset": "0"})],
    )
    api.get(
        f"{TICKETS}/api/tickets",
        json=page_json([]),
        match=[matchers.query_param_matcher({"q": "jazz", "limit": "12", "offset": "0"})],
    )

    everything = client.get("/?search=%00")
    jazz = client.get("/?search=ja%00zz")

    assert (everything.status_code, jazz.status_code) == (200, 200)
    assert "Jazz night" in everything.content.decode()
    assert "\x00" not in jazz.content.decode() and 'value="jazz"' in jazz.content.decode()


def test_a_nonsense_page_number_is_page_one(client, api):
    api.get(
        f"{TICKETS}/api/tickets",
        json=page_json([]),
        match=[matchers.query_param_matcher({"limit": "12", "offset": "0"})],
    )
    assert client.get("/", {"page": "lots"}).status_code == 200


def test_the_home_page_says_when_the_tickets_service_is_down(client, api):
    api.get(f"{TICKETS}/api/tickets", body=requests.ConnectionError("refused"))

    response = client.get("/")

    assert response.status_code == 503
    html = response.content.decode()
    assert "The tickets service is unavailable, please try again." in html
    assert "Traceback" not in html


def test_a_service_error_is_unavailability_too(client, api):
    api.get(f"{TICKETS}/api/tickets", status=500, json=errors(("Internal server error.", None)))
    response = client.get("/")
    assert response.status_code == 503
    assert "The tickets service is unavailable, please try again." in response.content.decode()


def test_an_anonymous_visitor_is_asked_to_sign_in_to_buy(client, api):
    ticket = ticket_json()
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)

    html = client.get(f"/tickets/{ticket['id']}").content.decode()

    assert "<title>Jazz night · Ticket Market</title>" in html
    assert f'href="/signin?next=/tickets/{ticket["id"]}"' in html
    assert ">Buy</button>" not in html


def test_a_buyer_sees_buy_and_the_seller_sees_edit(signed_in, api):
    ticket = ticket_json()
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)

    as_buyer = signed_in(user_id=BUYER_ID).get(f"/tickets/{ticket['id']}").content.decode()
    assert f'action="/tickets/{ticket["id"]}/buy"' in as_buyer
    assert ">Edit</a>" not in as_buyer

    as_seller = signed_in(user_id=SELLER_ID).get(f"/tickets/{ticket['id']}").content.decode()
    assert f'href="/tickets/{ticket["id"]}/edit"' in as_seller
    assert "/buy" not in as_seller


def test_a_ticket_with_an_order_is_held_and_cannot_be_bought(signed_in, api):
    """The API's ticket has no ``status``: an ``order_id`` means a buyer holds it (or bought it)."""
    ticket = ticket_json(order_id="0b8f6a56-7c1b-4c0e-9a57-1c4b6c1e9f10")
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)
    html = signed_in(user_id=BUYER_ID).get(f"/tickets/{ticket['id']}").content.decode()
    assert 'data-state="reserved">Held</span>' in html
    assert "A buyer holds this ticket, so it cannot be bought now." in html
    assert "/buy" not in html


def test_the_seller_of_a_held_ticket_sees_no_edit(signed_in, api):
    ticket = ticket_json(user_id=SELLER_ID, order_id="0b8f6a56-7c1b-4c0e-9a57-1c4b6c1e9f10")
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)
    client = signed_in(user_id=SELLER_ID)

    html = client.get(f"/tickets/{ticket['id']}").content.decode()
    assert "It cannot be edited while a buyer holds it." in html
    assert f'href="/tickets/{ticket["id"]}/edit"' not in html

    form = client.get(f"/tickets/{ticket['id']}/edit").content.decode()
    assert "A buyer holds this ticket, so it cannot be edited now." in form
    assert "<fieldset disabled>" in form


def test_an_unknown_ticket_gets_the_friendly_404_page(client, api):
    missing = ticket_json()["id"]
    api.get(f"{TICKETS}/api/tickets/{missing}", status=404, json=errors(("Not found.", None)))

    response = client.get(f"/tickets/{missing}")

    assert response.status_code == 404
    html = response.content.decode()
    assert "<title>Page not found · Ticket Market</title>" in html
    assert "We looked everywhere, but this page does not exist (any more)." in html


def test_selling_needs_a_signed_in_user(client):
    response = client.get("/tickets/new")
    assert response.status_code == 302
    assert response["Location"] == "/signin?next=%2Ftickets%2Fnew"
    assert flashes(response) == ["Please sign in to continue."]


def test_selling_a_ticket(signed_in, api):
    created = ticket_json(title="Jazz night", price="42.50", user_id=BUYER_ID)
    api.post(
        f"{TICKETS}/api/tickets",
        status=201,
        json=created,
        match=[matchers.json_params_matcher({"title": "Jazz night", "price": "42.50"})],
    )

    response = signed_in(access="access-1").post("/tickets/new", {"title": "Jazz night", "price": "42.5"})

    assert response.status_code == 302
    assert response["Location"] == f"/tickets/{created['id']}"
    assert bearer(api.calls[0]) == "Bearer access-1"
    assert flashes(response) == ["“Jazz night” is on sale."]


def test_the_tickets_service_has_the_last_word_on_a_listing(signed_in, api):
    api.post(f"{TICKETS}/api/tickets", status=400, json=errors(("Price must be at most 1,000,000.", "price")))

    response = signed_in().post("/tickets/new", {"title": "Jazz night", "price": "999999"})

    assert response.status_code == 400
    html = response.content.decode()
    assert '<div class="invalid-feedback d-block" id="id_price_error">Price must be at most 1,000,000.</div>' in html
    assert 'aria-describedby="id_price_error"' in html


def test_an_invalid_price_is_refused_before_asking_the_service(signed_in, api):
    response = signed_in().post("/tickets/new", {"title": "", "price": "0"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "This field is required." in html
    assert "Price must be greater than 0." in html
    assert len(api.calls) == 0


def test_my_tickets_shows_each_state(signed_in, api):
    order_id = "0b8f6a56-7c1b-4c0e-9a57-1c4b6c1e9f10"
    free = ticket_json(title="Free one", user_id=BUYER_ID, status="available")
    held = ticket_json(title="Held one", user_id=BUYER_ID, order_id=order_id, status="reserved")
    sold = ticket_json(title="Sold one", user_id=BUYER_ID, order_id=order_id, status="sold")
    api.get(
        f"{TICKETS}/api/tickets/mine",
        json=page_json([free, held, sold]),
        match=[matchers.query_param_matcher({"limit": "20", "offset": "0"})],
    )
    api.get(f"{TICKETS}/api/tickets/owned", json=page_json([]))

    html = signed_in().get("/tickets/mine").content.decode()

    assert 'data-state="available">Free</span>' in html
    assert 'data-state="reserved">Held</span>' in html
    assert 'data-state="sold">Sold</span>' in html
    assert f'href="/tickets/{free["id"]}/edit"' in html
    assert f'href="/tickets/{held["id"]}/edit"' not in html


def test_a_ticket_without_a_status_field_is_free_or_held_by_its_order(signed_in, api):
    """The API's ticket has no ``status``: ``order_id`` alone tells free from held."""
    free = ticket_json(title="Free one")
    held = ticket_json(title="Held one", order_id="0b8f6a56-7c1b-4c0e-9a57-1c4b6c1e9f10")
    api.get(f"{TICKETS}/api/tickets/mine", json=page_json([free, held]))
    api.get(f"{TICKETS}/api/tickets/owned", json=page_json([]))
    html = signed_in().get("/tickets/mine").content.decode()
    assert 'data-state="available">Free</span>' in html
    assert 'data-state="reserved">Held</span>' in html


def test_editing_sends_title_price_and_the_event_details(signed_in, api):
    """Last write wins: the service ignores client versions, so none is sent."""
    ticket = ticket_json(user_id=SELLER_ID, version=3)
    url = f"{TICKETS}/api/tickets/{ticket['id']}"
    api.get(url, json=ticket)
    api.get(url, json=ticket)
    api.put(
        url,
        json={**ticket, "title": "Jazz night (balcony)", "version": 4},
        match=[matchers.json_params_matcher({"title": "Jazz night (balcony)", "price": "25.00", "starts_at": None,
                                             "venue": "", "city": "", "description": ""})],
    )
    client = signed_in(user_id=SELLER_ID)

    form = client.get(f"/tickets/{ticket['id']}/edit").content.decode()
    assert 'value="Jazz night"' in form and 'name="version"' not in form

    response = client.post(f"/tickets/{ticket['id']}/edit", {"title": "Jazz night (balcony)", "price": "25"})
    assert response["Location"] == f"/tickets/{ticket['id']}"
    assert flashes(response) == ["“Jazz night (balcony)” was updated."]


def test_only_the_seller_may_edit(signed_in, api):
    ticket = ticket_json(user_id=SELLER_ID)
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)

    response = signed_in(user_id=BUYER_ID).get(f"/tickets/{ticket['id']}/edit")

    assert response.status_code == 403
    assert "Only the seller can edit this ticket." in response.content.decode()


def test_a_reserved_ticket_cannot_be_edited(signed_in, api):
    ticket = ticket_json(user_id=SELLER_ID)
    url = f"{TICKETS}/api/tickets/{ticket['id']}"
    api.get(url, json=ticket)
    api.put(url, status=400, json=errors(("Cannot edit a reserved ticket", None)))

    response = signed_in(user_id=SELLER_ID).post(f"/tickets/{ticket['id']}/edit", {"title": "x", "price": "5"})

    assert response.status_code == 400
    assert "Cannot edit a reserved ticket" in response.content.decode()


def test_an_edit_that_raced_another_write_says_so_on_the_form(signed_in, api):
    ticket = ticket_json(user_id=SELLER_ID)
    url = f"{TICKETS}/api/tickets/{ticket['id']}"
    api.get(url, json=ticket)
    api.put(url, status=409, json=errors(("The ticket was changed meanwhile; reload it and try again.", None)))

    response = signed_in(user_id=SELLER_ID).post(f"/tickets/{ticket['id']}/edit", {"title": "x", "price": "5"})

    assert response.status_code == 400
    assert "The ticket was changed meanwhile; reload it and try again." in response.content.decode()


def buy(client, ticket_id, expected_total="20.00"):
    """What the ticket page's Buy button posts: the price it showed."""
    return client.post(f"/tickets/{ticket_id}/buy", {"expected_total": expected_total})


def test_the_buy_button_carries_the_price_the_page_shows(signed_in, api):
    ticket = ticket_json(price="12.5")
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)

    html = signed_in(user_id=BUYER_ID).get(f"/tickets/{ticket['id']}").content.decode()

    assert '<p class="display-6 fw-semibold my-3" data-testid="price">$12.50</p>' in html
    assert '<input type="hidden" name="expected_total" value="12.50">' in html


def test_buying_reserves_at_the_price_shown_and_goes_to_the_order(signed_in, api):
    ticket_id = ticket_json()["id"]
    order = order_json(seconds_left=900)
    api.post(
        f"{ORDERS}/api/orders",
        status=201,
        json=order,
        match=[matchers.json_params_matcher({"ticket_id": ticket_id, "expected_total": "12.50"})],
    )

    response = buy(signed_in(access="access-1"), ticket_id, expected_total="12.5")

    assert response["Location"] == f"/orders/{order['id']}"
    assert bearer(api.calls[0]) == "Bearer access-1"
    assert flashes(response) == ["The ticket is reserved for you. Pay below to keep it."]


def test_buying_a_ticket_the_orders_service_has_not_heard_of_yet_waits_for_it(signed_in, api):
    ticket_id = ticket_json()["id"]
    order = order_json()
    api.post(f"{ORDERS}/api/orders", status=404, json=errors(("Ticket not found.", "ticket_id")))
    api.post(f"{ORDERS}/api/orders", status=201, json=order)

    response = buy(signed_in(), ticket_id)

    assert response["Location"] == f"/orders/{order['id']}"
    assert len(api.calls) == 2
    keys = {call.request.headers["Idempotency-Key"] for call in api.calls}
    assert len(keys) == 1, "a retry is the same request: one order at most"


def test_each_purchase_is_its_own_request(signed_in, api):
    for _ in range(2):
        api.post(f"{ORDERS}/api/orders", status=201, json=order_json())
    client = signed_in()
    buy(client, ticket_json()["id"])
    buy(client, ticket_json()["id"])

    assert len({call.request.headers["Idempotency-Key"] for call in api.calls}) == 2


def test_buying_a_reserved_ticket_explains_why_not(signed_in, api):
    ticket_id = ticket_json()["id"]
    api.post(f"{ORDERS}/api/orders", status=400, json=errors(("Ticket is already reserved", None)))

    response = buy(signed_in(), ticket_id)

    assert response["Location"] == f"/tickets/{ticket_id}"
    assert flashes(response) == ["Ticket is already reserved"]


def test_buying_after_the_seller_changed_the_price_shows_the_new_price(signed_in, api):
    ticket = ticket_json(price="40.00")
    api.post(f"{ORDERS}/api/orders", status=409, json=errors(("The price changed", "expected_total")))
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)
    client = signed_in()

    response = buy(client, ticket["id"], expected_total="10.00")

    assert response["Location"] == f"/tickets/{ticket['id']}"
    assert flashes(response) == [
        "The seller changed the price: this ticket now costs $40.00. "
        "Nothing was reserved; buy it again if you still want it."
    ]
    page = client.get(response["Location"]).content.decode()  # buy again, at the new price
    assert 'class="alert alert-warning alert-dismissible fade show" role="status"' in page
    assert "this ticket now costs $40.00" in page
    assert '<input type="hidden" name="expected_total" value="40.00">' in page


def test_a_changed_price_is_still_explained_when_the_tickets_service_is_down(signed_in, api):
    ticket_id = ticket_json()["id"]
    api.post(f"{ORDERS}/api/orders", status=409, json=errors(("The price changed", "expected_total")))
    api.get(f"{TICKETS}/api/tickets/{ticket_id}", body=requests.ConnectionError("down"))

    response = buy(signed_in(), ticket_id, expected_total="10.00")

    assert response["Location"] == f"/tickets/{ticket_id}"
    assert flashes(response) == [
        "The seller changed the price of this ticket. "
        "Nothing was reserved; check the new price and buy it again if you still want it."
    ]


@pytest.mark.parametrize("posted", [{}, {"expected_total": ""}, {"expected_total": "cheap"}, {"expected_total": "-1"}])
def test_buying_without_the_price_shown_reserves_nothing(signed_in, api, posted):
    """The storefront never reserves at a price it did not show: the orders service is not called."""
    ticket_id = ticket_json()["id"]

    response = signed_in().post(f"/tickets/{ticket_id}/buy", posted)

    assert response["Location"] == f"/tickets/{ticket_id}"
    assert flashes(response) == ["Please check the ticket's price and press Buy again."]
    assert len(api.calls) == 0


def test_buying_is_a_post_and_needs_a_signed_in_user(client, signed_in):
    ticket_id = ticket_json()["id"]
    response = client.post(f"/tickets/{ticket_id}/buy", HTTP_REFERER=f"http://testserver/tickets/{ticket_id}")
    assert response["Location"] == f"/signin?next=%2Ftickets%2F{ticket_id}"
    assert signed_in().get(f"/tickets/{ticket_id}/buy").status_code == 405


def test_forms_carry_a_csrf_token(signed_in, api):
    ticket = ticket_json()
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)
    html = signed_in().get(f"/tickets/{ticket['id']}").content.decode()
    assert html.count('name="csrfmiddlewaretoken"') == 3  # sign out, buy, add to cart


def test_the_ticket_body_sent_is_json(signed_in, api):
    api.post(f"{TICKETS}/api/tickets", status=201, json=ticket_json())
    signed_in().post("/tickets/new", {"title": "Jazz night", "price": "20"})
    assert json.loads(api.calls[0].request.body) == {"title": "Jazz night", "price": "20.00"}


# -- the catalog: filters, facets, sort, event details -------------------------------------------


def test_filters_go_to_the_service_and_stay_in_the_page_links(client, api):
    starts = "2030-03-14T20:00:00+00:00"
    api.get(
        f"{TICKETS}/api/tickets",
        json={**page_json([ticket_json(title="Hamlet", starts_at=starts, venue="The Globe", city="London",
                                       category="theatre")] * 12, count=30),
              "facets": {"category": {"theatre": 20, "concert": 10}, "city": {"London": 25, "Paris": 5}}},
        match=[matchers.query_param_matcher({"q": "hamlet", "category": "theatre,concert", "city": "London",
                                             "price_min": "10", "starts_after": "2030-03-01", "sort": "price",
                                             "limit": "12", "offset": "0"})],
    )

    response = client.get("/?q=hamlet&category=theatre&category=concert&city=London&price_min=10"
                          "&starts_after=2030-03-01&sort=price")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Thu 14 Mar 2030, 20:00" in html and "The Globe, London" in html
    assert 'data-testid="facet-theatre">20<' in html and 'data-testid="facet-concert">10<' in html
    assert '<option value="London" selected>London (25)</option>' in html
    assert 'value="price" selected' in html
    assert ('href="?q=hamlet&amp;category=theatre&amp;category=concert&amp;city=London&amp;price_min=10'
            '&amp;starts_after=2030-03-01&amp;sort=price&amp;page=2"') in html
    assert 'class="offcanvas-lg offcanvas-start"' in html


def test_an_unusable_filter_is_left_out_and_said(client, api):
    api.get(f"{TICKETS}/api/tickets", json=page_json([]),
            match=[matchers.query_param_matcher({"limit": "12", "offset": "0"})])

    html = client.get("/?price_min=cheap&category=opera").content.decode()

    assert "Some filters were not understood" in html


def test_no_match_with_filters_helps(client, api):
    api.get(f"{TICKETS}/api/tickets", json=page_json([]))

    html = client.get("/?q=polka&city=Oslo").content.decode()

    assert "No tickets match “polka” with these filters." in html
    assert "wider price or date range" in html


def test_selling_with_the_event_details(signed_in, api):
    created = ticket_json(title="Jazz night", price="42.50", user_id=BUYER_ID)
    api.post(
        f"{TICKETS}/api/tickets",
        status=201,
        json=created,
        match=[matchers.json_params_matcher({"title": "Jazz night", "price": "42.50",
                                             "starts_at": "2031-05-02T19:30:00+00:00", "venue": "Blue Note",
                                             "city": "New York", "category": "concert"})],
    )

    response = signed_in().post("/tickets/new", {"title": "Jazz night", "price": "42.5",
                                                 "starts_at": "2031-05-02T19:30", "venue": "Blue Note",
                                                 "city": "New York", "category": "concert"})

    assert response.status_code == 302


def test_selling_for_a_past_date_is_refused_before_asking(signed_in, api):
    response = signed_in().post("/tickets/new", {"title": "Jazz", "price": "5", "starts_at": "2001-01-01T10:00"})

    assert response.status_code == 400
    assert "The event must start in the future." in response.content.decode()
    assert len(api.calls) == 0


def test_the_seller_unlists_a_ticket(signed_in, api):
    ticket = ticket_json(user_id=SELLER_ID)
    url = f"{TICKETS}/api/tickets/{ticket['id']}"
    api.get(url, json=ticket)
    api.delete(url, status=204)

    response = signed_in(user_id=SELLER_ID).post(f"/tickets/{ticket['id']}/unlist")

    assert response["Location"] == "/tickets/mine"
    assert flashes(response) == [f"“{ticket['title']}” is no longer for sale."]


def test_unlisting_a_reserved_ticket_says_why(signed_in, api):
    ticket = ticket_json(user_id=SELLER_ID)
    url = f"{TICKETS}/api/tickets/{ticket['id']}"
    api.get(url, json=ticket)
    api.delete(url, status=400, json=errors(("Cannot unlist a reserved ticket", None)))

    response = signed_in(user_id=SELLER_ID).post(f"/tickets/{ticket['id']}/unlist")

    assert response["Location"] == f"/tickets/{ticket['id']}"
    assert flashes(response) == ["Cannot unlist a reserved ticket"]


def test_the_ticket_page_shows_when_and_where_and_offers_the_seller_unlisting(signed_in, api):
    ticket = ticket_json(user_id=SELLER_ID, starts_at="2030-03-16T20:00:00+00:00", venue="Olympia", city="Paris")
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)

    html = signed_in(user_id=SELLER_ID).get(f"/tickets/{ticket['id']}").content.decode()

    assert "Sat 16 Mar 2030, 20:00" in html and "Olympia, Paris" in html
    assert 'data-testid="unlist"' in html
