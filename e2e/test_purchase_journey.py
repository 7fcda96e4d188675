"""Paying and expiring through the running stack (make test runs it with a 12 s window)."""

import time
import uuid

import pytest

from conftest import eventually


@pytest.fixture
def listed(new_user, tickets_url):
    """A seller and a fresh ticket of theirs."""
    seller = new_user()
    title = f"Gig {uuid.uuid4().hex[:8]}"
    response = seller.http.post(f"{tickets_url}/api/tickets", json={"title": title, "price": "30.00"})
    assert response.status_code == 201, response.text
    return seller, response.json()


def reserve(buyer, orders_url, ticket_id) -> dict:
    def attempt():
        response = buyer.http.post(f"{orders_url}/api/orders", json={"ticket_id": ticket_id})
        return None if response.status_code == 404 else response

    response = eventually(attempt, what="the ticket to reach the orders service")
    assert response.status_code == 201, response.text
    return response.json()


def is_free(http, tickets_url, ticket) -> bool:
    page = http.get(f"{tickets_url}/api/tickets", params={"search": ticket["title"]}).json()
    return any(t["id"] == ticket["id"] for t in page["results"])


def test_an_unpaid_reservation_expires_and_the_ticket_is_for_sale_again(
    new_user, listed, tickets_url, orders_url, expiration_seconds
):
    if expiration_seconds > 30:
        pytest.skip("needs a short ORDER_EXPIRATION_SECONDS (make test sets 12)")
    seller, ticket = listed
    buyer = new_user()
    order = reserve(buyer, orders_url, ticket["id"])
    eventually(lambda: not is_free(seller.http, tickets_url, ticket), what="the ticket to be held")

    cancelled = eventually(
        lambda: (o := buyer.http.get(f"{orders_url}/api/orders/{order['id']}").json())["status"] == "cancelled" and o,
        timeout=expiration_seconds + 15,
        what="the order to expire",
    )
    assert cancelled["version"] > order["version"]
    eventually(lambda: is_free(seller.http, tickets_url, ticket), what="the ticket to be free again")
    assert seller.http.get(f"{tickets_url}/api/tickets/{ticket['id']}").json()["order_id"] is None


def test_a_paid_order_completes_sells_the_ticket_and_never_expires(
    new_user, listed, tickets_url, orders_url, payments_url, expiration_seconds
):
    seller, ticket = listed
    buyer = new_user()
    order = reserve(buyer, orders_url, ticket["id"])

    def pay():
        response = buyer.http.post(f"{payments_url}/api/payments",
                                   json={"order_id": order["id"], "payment_method": "pm_card_visa"})
        return None if response.status_code == 404 else response  # the order is still on its way there

    payment = eventually(pay, what="the order to reach the payments service")
    assert payment.status_code == 201, payment.text
    body = payment.json()
    assert body["order_id"] == order["id"]
    assert body["amount"] == "30.00"
    assert body["stripe_id"].startswith("pi_")

    eventually(
        lambda: buyer.http.get(f"{orders_url}/api/orders/{order['id']}").json()["status"] == "complete",
        what="the order to complete",
    )
    again = buyer.http.post(f"{payments_url}/api/payments",
                            json={"order_id": order["id"], "payment_method": "pm_card_visa"})
    assert again.status_code == 400  # already paid: never charged twice

    if expiration_seconds <= 30:
        time.sleep(expiration_seconds + 3)  # past the deadline: its expiration fires and changes nothing
    assert buyer.http.get(f"{orders_url}/api/orders/{order['id']}").json()["status"] == "complete"
    assert not is_free(seller.http, tickets_url, ticket)
    sold = seller.http.get(f"{tickets_url}/api/tickets/{ticket['id']}").json()
    assert sold["order_id"] == order["id"]
