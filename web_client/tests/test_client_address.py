"""The web client names the browser to the services (X-Forwarded-For), as a proxy does."""

from __future__ import annotations

from storefront.clients.tickets import TicketsClient
from tests.conftest import AUTH, ORDERS, TICKETS, errors, page_json, ticket_json

BROWSER = "198.51.100.7"
INGRESS = "10.1.0.2"


def forwarded(call) -> str | None:
    return call.request.headers.get("X-Forwarded-For")


def test_a_sign_in_names_the_browser_that_made_it(client, api):
    api.post(f"{AUTH}/api/users/signin", status=400, json=errors(("Invalid credentials", None)))

    client.post("/signin", {"email": "ann@example.com", "password": "wrong"}, REMOTE_ADDR=BROWSER)

    assert [forwarded(call) for call in api.calls] == [BROWSER]


def test_the_chain_before_us_is_passed_on_with_our_peer_appended(client, api):
    """Which part of it to believe is the service's decision (its TRUSTED_PROXIES), not ours."""
    api.post(f"{AUTH}/api/users/signin", status=400, json=errors(("Invalid credentials", None)))

    client.post("/signin", {"email": "ann@example.com", "password": "wrong"},
                REMOTE_ADDR=INGRESS, HTTP_X_FORWARDED_FOR=f"192.0.2.1, {BROWSER}")

    assert [forwarded(call) for call in api.calls] == [f"192.0.2.1, {BROWSER}, {INGRESS}"]


def test_every_call_of_a_request_names_the_browser_the_token_refresh_included(signed_in, api):
    client = signed_in(access="stale")
    api.get(f"{ORDERS}/api/orders", status=401)
    api.post(f"{AUTH}/api/users/token/refresh", json={"access": "access-2", "refresh": "refresh-2"})
    api.get(f"{ORDERS}/api/orders", json=page_json([]))

    assert client.get("/orders", REMOTE_ADDR=BROWSER).status_code == 200

    assert [forwarded(call) for call in api.calls] == [BROWSER] * 3


def test_each_request_names_its_own_browser_and_none_is_named_after_it(client, api):
    ticket = ticket_json()
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)
    api.get(f"{TICKETS}/api/tickets/{ticket['id']}", json=ticket)

    client.get(f"/tickets/{ticket['id']}", REMOTE_ADDR=BROWSER)
    client.get(f"/tickets/{ticket['id']}", REMOTE_ADDR="203.0.113.4")
    TicketsClient().get(ticket["id"])  # outside any request, as a command would

    assert [forwarded(call) for call in api.calls] == [BROWSER, "203.0.113.4", None]
