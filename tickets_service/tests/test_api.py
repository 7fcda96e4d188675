"""Every row of the tickets table in docs/api.md, success and each failure."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.conftest import SELLER_ID, errors
from tests.factories import TicketFactory
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

TICKET_FIELDS = {"id", "title", "price", "user_id", "order_id", "version", "owner_id",  # docs/api.md, exactly
                 "starts_at", "venue", "city", "category", "description"}
# What a ticket listed without the event's details answers for them.
NO_EVENT_DETAILS = {"starts_at": None, "venue": "", "city": "", "category": "other", "description": ""}
OWN_TICKET_FIELDS = TICKET_FIELDS | {"status"}  # only in the seller's own list


def aged(ticket: Ticket, minutes: int) -> Ticket:
    """Make ``ticket`` look listed ``minutes`` ago (ordering is by listing time)."""
    Ticket.objects.filter(pk=ticket.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))
    return ticket


def held(ticket: Ticket, *, sold: bool = False) -> Ticket:
    ticket.order_id = uuid.uuid4()
    ticket.sold_at = timezone.now() if sold else None
    ticket.save()
    return ticket


# -- GET /api/tickets --------------------------------------------------------------


def test_the_list_shows_available_tickets_newest_first_to_anyone(api_client):
    oldest = aged(TicketFactory(title="Oldest"), 30)
    newest = aged(TicketFactory(title="Newest"), 1)
    middle = aged(TicketFactory(title="Middle"), 10)
    held(aged(TicketFactory(title="Held"), 5))
    held(aged(TicketFactory(title="Sold"), 6), sold=True)

    response = api_client.get("/api/tickets")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["next"] is None and body["previous"] is None
    assert [t["id"] for t in body["results"]] == [str(newest.id), str(middle.id), str(oldest.id)]
    first = body["results"][0]
    assert set(first) == TICKET_FIELDS
    assert first == {
        "id": str(newest.id),
        "title": "Newest",
        "price": "20.00",
        "user_id": str(newest.user_id),
        "order_id": None,
        "owner_id": None,
        "version": 0,
        **NO_EVENT_DETAILS,
    }


def test_the_list_is_paginated_with_limit_and_offset(api_client):
    tickets = [aged(TicketFactory(), minutes) for minutes in range(5)]  # tickets[0] is the newest

    response = api_client.get("/api/tickets?limit=2&offset=2")

    body = response.json()
    assert body["count"] == 5
    assert [t["id"] for t in body["results"]] == [str(tickets[2].id), str(tickets[3].id)]
    assert "limit=2" in body["next"] and "offset=4" in body["next"]
    assert "limit=2" in body["previous"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("concert", {"Taylor Swift Concert", "Rock concert night"}),
        ("CONC", {"Taylor Swift Concert", "Rock concert night"}),
        ("swift conc", {"Taylor Swift Concert"}),
        ("  night   ROCK ", {"Rock concert night"}),
        ("ac/dc", {"AC/DC: live"}),
        ("50%", {"Theatre: 50% off"}),
        # Punctuation alone is no word: nothing is filtered.
            ("%", {"Taylor Swift Concert", "Rock concert night", "AC/DC: live", "Theatre: 50% off"}),
            ("_", {"Taylor Swift Concert", "Rock concert night", "AC/DC: live", "Theatre: 50% off"}),
        ("opera", set()),
        ("", {"Taylor Swift Concert", "Rock concert night", "AC/DC: live", "Theatre: 50% off"}),
    ],
)
def test_search_matches_every_word_at_the_start_of_a_word(api_client, search, expected):
    for title in ("Taylor Swift Concert", "Rock concert night", "AC/DC: live", "Theatre: 50% off"):
        TicketFactory(title=title)
    held(TicketFactory(title="Held concert"))

    response = api_client.get("/api/tickets", {"search": search})

    assert response.status_code == 200
    assert {t["title"] for t in response.json()["results"]} == expected


def test_the_list_ignores_a_bad_or_expired_token(api_client, make_token):
    TicketFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(lifetime=timedelta(seconds=-60))}")
    assert api_client.get("/api/tickets").json()["count"] == 1
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert api_client.get("/api/tickets").json()["count"] == 1


# -- GET /api/tickets/mine ---------------------------------------------------------


def test_mine_lists_the_callers_tickets_in_every_state_newest_first(seller):
    available = aged(TicketFactory(user_id=SELLER_ID), 3)
    reserved = held(aged(TicketFactory(user_id=SELLER_ID), 2))
    sold = held(aged(TicketFactory(user_id=SELLER_ID), 1), sold=True)
    TicketFactory()  # someone else's

    response = seller.get("/api/tickets/mine")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [(t["id"], t["status"]) for t in body["results"]] == [
        (str(sold.id), "sold"),
        (str(reserved.id), "reserved"),
        (str(available.id), "available"),
    ]
    assert body["results"][1]["order_id"] == str(reserved.order_id)
    assert all(set(t) == OWN_TICKET_FIELDS for t in body["results"])


def test_mine_searches_the_callers_titles(seller):
    TicketFactory(user_id=SELLER_ID, title="Jazz night")
    held(TicketFactory(user_id=SELLER_ID, title="Jazz brunch"))
    TicketFactory(user_id=SELLER_ID, title="Opera")
    TicketFactory(title="Jazz for someone else")

    response = seller.get("/api/tickets/mine", {"search": "JAZZ"})

    assert response.status_code == 200
    assert {t["title"] for t in response.json()["results"]} == {"Jazz night", "Jazz brunch"}


@pytest.mark.parametrize(("search", "expected"), [("\x00", 2), ("ja\x00zz", 1), ("\x00\x00 night", 1)])
def test_a_nul_in_the_search_is_dropped_not_an_error(seller, api_client, search, expected):
    """PostgreSQL text cannot hold NUL: the search goes on without it (``?search=%00``)."""
    TicketFactory(user_id=SELLER_ID, title="Jazz night")
    TicketFactory(user_id=SELLER_ID, title="Opera")

    public = api_client.get("/api/tickets", {"search": search})
    mine = seller.get("/api/tickets/mine", {"search": search})

    assert (public.status_code, mine.status_code) == (200, 200)
    assert public.json()["count"] == mine.json()["count"] == expected
    assert api_client.get("/api/tickets?search=%00").json()["count"] == 2


def test_mine_needs_a_token(api_client):
    response = api_client.get("/api/tickets/mine")

    assert response.status_code == 401
    assert errors(response)[0]["message"]


def test_mine_refuses_an_expired_token(api_client, make_token):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(lifetime=timedelta(seconds=-60))}")
    assert api_client.get("/api/tickets/mine").status_code == 401


# -- POST /api/tickets -------------------------------------------------------------


def test_create_lists_a_ticket_for_the_caller_and_publishes_ticket_created(seller, outbox):
    response = seller.post("/api/tickets", {"title": "  Concert  ", "price": "20"}, format="json")

    assert response.status_code == 201
    body = response.json()
    ticket = Ticket.objects.get(pk=body["id"])
    assert body == {
        "id": str(ticket.id),
        "title": "Concert",
        "price": "20.00",
        "user_id": SELLER_ID,
        "order_id": None,
        "owner_id": None,
        "version": 0,
        **NO_EVENT_DETAILS,
    }
    assert ticket.title == "Concert" and ticket.price == Decimal("20.00") and str(ticket.user_id) == SELLER_ID
    assert outbox() == [
        {
            "type": "ticket.created",
            "aggregateid": str(ticket.id),
            "data": {"id": str(ticket.id), "title": "Concert", "price": "20.00", "user_id": SELLER_ID, "version": 0,
                     "starts_at": None, "venue": "", "city": "", "category": "other", "description": ""},
        }
    ]


@pytest.mark.parametrize(
    ("price", "stored"),
    [
        (20, "20.00"),
        (20.5, "20.50"),
        ("0.01", "0.01"),
        ("1000000", "1000000.00"),
        (1000000.00, "1000000.00"),
        ("12.340", "12.34"),
        (" 7.5 ", "7.50"),
    ],
)
def test_create_accepts_a_price_as_a_number_or_a_string(seller, price, stored):
    response = seller.post("/api/tickets", {"title": "Concert", "price": price}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["price"] == stored
    assert str(Ticket.objects.get().price) == stored


TITLE_MAX = "x" * 120


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"price": "10"}, "title", "This field is required."),
        ({"title": "", "price": "10"}, "title", "This field may not be blank."),
        ({"title": "   ", "price": "10"}, "title", "This field may not be blank."),
        ({"title": None, "price": "10"}, "title", "This field may not be null."),
        ({"title": TITLE_MAX + "x", "price": "10"}, "title", "Ensure this field has no more than 120 characters."),
        # The document's maxLength counts the whitespace DRF would trim: so does the API.
        ({"title": TITLE_MAX + " ", "price": "10"}, "title", "Ensure this field has no more than 120 characters."),
        ({"title": "Con\x00cert", "price": "10"}, "title", "Null characters are not allowed."),
        ({"title": "Concert"}, "price", "This field is required."),
        ({"title": "Concert", "price": None}, "price", "This field may not be null."),
        ({"title": "Concert", "price": ""}, "price", "A valid number is required."),
        ({"title": "Concert", "price": "ten"}, "price", "A valid number is required."),
        ({"title": "Concert", "price": "NaN"}, "price", "A valid number is required."),
        ({"title": "Concert", "price": "Infinity"}, "price", "A valid number is required."),
        ({"title": "Concert", "price": True}, "price", "A valid number is required."),
        ({"title": "Concert", "price": {"amount": 10}}, "price", "A valid number is required."),
        ({"title": "Concert", "price": "1" * 60}, "price", "A valid number is required."),
        ({"title": "Concert", "price": 0}, "price", "Price must be greater than 0."),
        ({"title": "Concert", "price": "0.00"}, "price", "Price must be greater than 0."),
        ({"title": "Concert", "price": "-5"}, "price", "Price must be greater than 0."),
        ({"title": "Concert", "price": "1000000.01"}, "price", "Price must be at most 1,000,000.00."),
        ({"title": "Concert", "price": 1e30}, "price", "Price must be at most 1,000,000.00."),
        ({"title": "Concert", "price": "10.005"}, "price", "Price must have at most 2 decimal places."),
        ({"title": "Concert", "price": 0.001}, "price", "Price must have at most 2 decimal places."),
    ],
)
def test_create_rejects_invalid_input_per_field_and_creates_nothing(seller, outbox, body, field, message):
    response = seller.post("/api/tickets", body, format="json")

    assert response.status_code == 400
    assert errors(response) == [{"message": message, "field": field}]
    assert not Ticket.objects.exists()
    assert outbox() == []


def test_create_reports_every_invalid_field_at_once(seller):
    response = seller.post("/api/tickets", {"title": "", "price": "-1"}, format="json")

    assert response.status_code == 400
    assert {e["field"] for e in errors(response)} == {"title", "price"}


def test_create_accepts_the_longest_title(seller):
    response = seller.post("/api/tickets", {"title": TITLE_MAX, "price": "1"}, format="json")
    assert response.status_code == 201
    assert Ticket.objects.get().title == TITLE_MAX


@pytest.mark.parametrize("body", ["not json", "[1, 2]"])
def test_create_rejects_a_body_that_is_not_a_json_object(seller, body):
    response = seller.post("/api/tickets", body, content_type="application/json")

    assert response.status_code == 400
    assert errors(response)[0]["message"]
    assert not Ticket.objects.exists()


def test_create_needs_a_token(api_client, outbox):
    response = api_client.post("/api/tickets", {"title": "Concert", "price": "20"}, format="json")

    assert response.status_code == 401
    assert errors(response)[0]["message"]
    assert not Ticket.objects.exists() and outbox() == []


# -- GET /api/tickets/{id} ---------------------------------------------------------


@pytest.mark.parametrize("state", ["available", "reserved", "sold"])
def test_show_answers_any_ticket_to_anyone_as_the_spec_ticket(api_client, ticket, state):
    if state != "available":
        held(ticket, sold=state == "sold")

    response = api_client.get(f"/api/tickets/{ticket.id}")

    assert response.status_code == 200
    assert response.json() == {
        "id": str(ticket.id),
        "title": "Taylor Swift concert",
        "price": "120.50",
        "user_id": SELLER_ID,
        "order_id": str(ticket.order_id) if ticket.order_id else None,
        "owner_id": None,
        "version": 0,
        **NO_EVENT_DETAILS,
    }


@pytest.mark.parametrize("ticket_id", [str(uuid.uuid4()), "not-a-uuid", "123"])
def test_show_answers_404_for_an_unknown_or_malformed_id(api_client, ticket_id):
    response = api_client.get(f"/api/tickets/{ticket_id}")

    assert response.status_code == 404
    assert errors(response) == [{"message": "Not found."}]


# -- PUT /api/tickets/{id} ---------------------------------------------------------


def test_update_changes_title_and_price_bumps_the_version_and_publishes(seller, ticket, outbox):
    response = seller.put(f"/api/tickets/{ticket.id}", {"title": "Taylor Swift, row 1", "price": 150}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "id": str(ticket.id),
        "title": "Taylor Swift, row 1",
        "price": "150.00",
        "user_id": SELLER_ID,
        "order_id": None,
        "owner_id": None,
        "version": 1,
        **NO_EVENT_DETAILS,
    }
    ticket.refresh_from_db()
    assert (ticket.title, ticket.price, ticket.version) == ("Taylor Swift, row 1", Decimal("150.00"), 1)
    assert outbox() == [
        {
            "type": "ticket.updated",
            "aggregateid": str(ticket.id),
            "data": {
                "id": str(ticket.id),
                "title": "Taylor Swift, row 1",
                "price": "150.00",
                "user_id": SELLER_ID,
                "order_id": None,
                "owner_id": None,
                "version": 1,
                "starts_at": None, "venue": "", "city": "", "category": "other", "description": "",
                "unlisted": False,
            },
        }
    ]

    again = seller.put(f"/api/tickets/{ticket.id}", {"title": "Row 2", "price": "99.99"}, format="json")
    assert again.json()["version"] == 2
    assert [e["data"]["version"] for e in outbox("ticket.updated")] == [1, 2]


def test_update_ignores_a_version_in_the_body(seller, ticket, outbox):
    """A client sending a ticket it read back, twice: last write wins, the version is the service's."""
    body = seller.get(f"/api/tickets/{ticket.id}").json()
    body.update(title="New", price="1")

    first = seller.put(f"/api/tickets/{ticket.id}", body, format="json")
    second = seller.put(f"/api/tickets/{ticket.id}", {**body, "title": "Newer"}, format="json")
    third = seller.put(f"/api/tickets/{ticket.id}", {"title": "Newest", "price": "2", "version": 99}, format="json")

    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert [r.json()["version"] for r in (first, second, third)] == [1, 2, 3]
    assert set(third.json()) == TICKET_FIELDS
    ticket.refresh_from_db()
    assert (ticket.title, ticket.price, ticket.version) == ("Newest", Decimal("2.00"), 3)
    assert [e["data"]["version"] for e in outbox("ticket.updated")] == [1, 2, 3]


def test_update_ignores_other_read_only_fields_in_the_body(seller, ticket):
    body = {"title": "New", "price": "1", "id": str(uuid.uuid4()), "user_id": str(uuid.uuid4()), "version": "x"}
    body["order_id"] = str(uuid.uuid4())

    response = seller.put(f"/api/tickets/{ticket.id}", body, format="json")

    assert response.status_code == 200
    ticket.refresh_from_db()
    assert (str(ticket.id), str(ticket.user_id), ticket.order_id) == (response.json()["id"], SELLER_ID, None)


def test_update_needs_a_token(api_client, ticket):
    response = api_client.put(f"/api/tickets/{ticket.id}", {"title": "New", "price": "1"}, format="json")

    assert response.status_code == 401
    ticket.refresh_from_db()
    assert ticket.title == "Taylor Swift concert"


def test_update_by_someone_else_is_forbidden(authed_client, ticket, outbox):
    response = authed_client().put(f"/api/tickets/{ticket.id}", {"title": "Mine now", "price": "1"}, format="json")

    assert response.status_code == 403
    assert errors(response) == [{"message": "Only the owner can edit this ticket."}]
    ticket.refresh_from_db()
    assert ticket.title == "Taylor Swift concert" and ticket.version == 0
    assert outbox() == []


@pytest.mark.parametrize("ticket_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_update_of_an_unknown_ticket_is_404(seller, ticket_id):
    response = seller.put(f"/api/tickets/{ticket_id}", {"title": "New", "price": "1"}, format="json")

    assert response.status_code == 404
    assert errors(response) == [{"message": "Not found."}]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"price": "10"}, "title", "This field is required."),
        ({"title": " ", "price": "10"}, "title", "This field may not be blank."),
        ({"title": TITLE_MAX + "x", "price": "10"}, "title", "Ensure this field has no more than 120 characters."),
        # The document's maxLength counts the whitespace DRF would trim: so does the API.
        ({"title": TITLE_MAX + " ", "price": "10"}, "title", "Ensure this field has no more than 120 characters."),
        ({"title": "Concert"}, "price", "This field is required."),
        ({"title": "Concert", "price": "-1"}, "price", "Price must be greater than 0."),
        ({"title": "Concert", "price": 1000001}, "price", "Price must be at most 1,000,000.00."),
        ({"title": "Concert", "price": "1.999"}, "price", "Price must have at most 2 decimal places."),
    ],
)
def test_update_rejects_invalid_input_per_field_and_changes_nothing(seller, ticket, outbox, body, field, message):
    response = seller.put(f"/api/tickets/{ticket.id}", body, format="json")

    assert response.status_code == 400
    assert errors(response) == [{"message": message, "field": field}]
    ticket.refresh_from_db()
    assert (ticket.title, ticket.price, ticket.version) == ("Taylor Swift concert", Decimal("120.50"), 0)
    assert outbox() == []


@pytest.mark.parametrize("sold", [False, True], ids=["reserved", "sold"])
def test_update_of_a_reserved_or_sold_ticket_is_refused(seller, ticket, outbox, sold):
    held(ticket, sold=sold)

    response = seller.put(f"/api/tickets/{ticket.id}", {"title": "Cheaper", "price": "1"}, format="json")

    assert response.status_code == 400
    assert errors(response) == [{"message": "Cannot edit a reserved ticket"}]
    ticket.refresh_from_db()
    assert (ticket.title, ticket.price, ticket.version) == ("Taylor Swift concert", Decimal("120.50"), 0)
    assert outbox() == []


def test_a_freed_ticket_can_be_edited_again(seller, ticket):
    held(ticket)
    ticket.order_id = None
    ticket.save()

    response = seller.put(f"/api/tickets/{ticket.id}", {"title": "Again", "price": "5"}, format="json")
    assert response.status_code == 200


@pytest.mark.parametrize("method", ["patch"])
def test_other_methods_are_not_allowed(seller, ticket, method):
    response = getattr(seller, method)(f"/api/tickets/{ticket.id}", {}, format="json")

    assert response.status_code == 405
    assert errors(response)[0]["message"]
    assert Ticket.objects.filter(pk=ticket.pk).exists()


# -- around the API ----------------------------------------------------------------


def test_the_openapi_schema_describes_the_tickets_api(api_client):
    response = api_client.get("/api/tickets/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/tickets", "/api/tickets/mine", "/api/tickets/{ticket_id}"} <= set(paths)
    assert {"get", "post"} <= set(paths["/api/tickets"])
    assert {"get", "put"} <= set(paths["/api/tickets/{ticket_id}"])


def test_health_and_unknown_api_paths_answer_json(api_client):
    assert api_client.get("/healthz").status_code == 200
    response = api_client.get("/api/tickets/a/b")
    assert response.status_code == 404
    assert errors(response)[0]["message"]
