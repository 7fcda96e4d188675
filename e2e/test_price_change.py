"""A buyer never pays another price than the one the seller set, through the running stack.

The orders service prices an order from its replica of the ticket, which hears of a
seller's edit by an event a moment later. An order made in that moment is at the old
price; it is cancelled (``cancel_reason: price_changed``) as soon as the edit arrives,
and the payments service refuses it or refunds a payment that raced the cancel. A buyer
who sends the price they saw (``expected_total``) gets a 409 instead of an order.
"""

from __future__ import annotations

import os
import uuid

import pytest
import requests

from conftest import eventually, wait_until_orders_charges

pytestmark = pytest.mark.usefixtures("tickets_url", "orders_url", "payments_url")

OLD_PRICE, NEW_PRICE = "10.00", "40.00"
# An edit usually reaches the orders service within milliseconds: a reservation sent right
# after it is made from the stale replica often, not always. Each attempt is a fresh ticket.
ATTEMPTS = 20


@pytest.fixture(scope="session")
def stripe_url() -> str:
    url = os.environ.get("E2E_STRIPE_URL")
    if url is None:
        pytest.skip("needs the Stripe double of the test stack (E2E_STRIPE_URL)")
    return url.rstrip("/")


def listed_and_replicated(seller, scout, tickets_url, orders_url) -> dict:
    """A ticket at the old price that the orders service already knows, and nobody holds there.

    The scout's reservation succeeding proves the replica has it; the scout cancels it at once.
    """
    response = seller.http.post(f"{tickets_url}/api/tickets",
                                json={"title": f"Recital {uuid.uuid4().hex[:8]}", "price": OLD_PRICE})
    assert response.status_code == 201, response.text
    ticket = response.json()

    def reserve():
        attempt = scout.http.post(f"{orders_url}/api/orders", json={"ticket_id": ticket["id"]})
        return None if attempt.status_code == 404 else [attempt]  # in a list: a 4xx Response is falsy

    [held] = eventually(reserve, what="the ticket to reach the orders service")
    assert held.status_code == 201, held.text
    assert scout.http.delete(f"{orders_url}/api/orders/{held.json()['id']}").status_code == 204
    return ticket


def edit_price(seller, tickets_url, ticket, price) -> None:
    """The seller's edit, retried while the tickets service still shows the scout's hold."""

    def attempt():
        response = seller.http.put(f"{tickets_url}/api/tickets/{ticket['id']}",
                                   json={"title": ticket["title"], "price": price})
        assert response.status_code in (200, 400), response.text
        return response.status_code == 200

    eventually(attempt, what="the tickets service to let the seller edit the ticket")


def order_of(buyer, orders_url, order_id) -> dict:
    return buyer.http.get(f"{orders_url}/api/orders/{order_id}").json()


def pay(buyer, payments_url, order_id) -> requests.Response:
    """Pay as soon as the payments service knows the order (racing the cancel on purpose)."""

    def attempt():
        response = buyer.http.post(f"{payments_url}/api/payments",
                                   json={"order_id": order_id, "payment_method": "pm_card_visa"})
        return None if response.status_code == 404 else [response]  # in a list: a 4xx Response is falsy

    return eventually(attempt, what="the order to reach the payments service")[0]


def unrefunded_charges(stripe_url, order_id) -> list[str]:
    """PaymentIntents of ``order_id`` that took money and were not refunded, on the Stripe double."""

    def listed(resource):
        response = requests.get(f"{stripe_url}/v1/{resource}", params={"limit": 1000000},
                                headers={"Authorization": "Bearer sk_test_local"}, timeout=30)
        response.raise_for_status()
        return response.json()["data"]

    intents = [i for i in listed("payment_intents") if (i.get("metadata") or {}).get("order_id") == order_id]
    refunded = {c["payment_intent"] for c in listed("charges") if c.get("payment_intent") and c.get("refunded")}
    return [i["id"] for i in intents if i["status"] == "succeeded" and i["id"] not in refunded]


def test_an_order_made_at_the_old_price_is_cancelled_and_never_paid_at_it(
    new_user, tickets_url, orders_url, payments_url, stripe_url
):
    seller, buyer, scout = new_user(), new_user(), new_user()
    for _ in range(ATTEMPTS):
        ticket = listed_and_replicated(seller, scout, tickets_url, orders_url)
        edit_price(seller, tickets_url, ticket, NEW_PRICE)
        response = buyer.http.post(f"{orders_url}/api/orders", json={"ticket_id": ticket["id"]})  # at once
        assert response.status_code == 201, response.text
        order = response.json()
        if order["ticket"]["price"] == OLD_PRICE:
            break
        # The edit was there first: a fair order at the new price, which nothing cancels.
        assert order["ticket"]["price"] == NEW_PRICE
        assert order_of(buyer, orders_url, order["id"])["status"] == "created"
        assert buyer.http.delete(f"{orders_url}/api/orders/{order['id']}").status_code == 204
    else:
        pytest.fail(f"in {ATTEMPTS} attempts the edit always reached the orders service before the reservation")

    payment = pay(buyer, payments_url, order["id"])
    cancelled = eventually(
        lambda: (o := order_of(buyer, orders_url, order["id"]))["status"] == "cancelled" and o,
        timeout=5,
        what="the order at the old price to be cancelled",
    )
    assert cancelled["cancel_reason"] == "price_changed"
    assert cancelled["ticket"]["price"] == OLD_PRICE

    # Paying it now is refused; a payment that raced the cancel is refunded.
    assert payment.status_code in (201, 400), payment.text
    again = pay(buyer, payments_url, order["id"])
    assert again.status_code == 400, again.text
    eventually(lambda: not unrefunded_charges(stripe_url, order["id"]), what="a charge at the old price to be refunded")
    eventually(
        lambda: seller.http.get(f"{tickets_url}/api/tickets/{ticket['id']}").json()["order_id"] is None,
        what="the ticket to be free again",
    )
    fresh = buyer.http.post(f"{orders_url}/api/orders", json={"ticket_id": ticket["id"], "expected_total": NEW_PRICE})
    assert fresh.status_code == 201, fresh.text
    assert fresh.json()["ticket"]["price"] == NEW_PRICE


def test_reserving_at_the_old_price_is_refused_once_the_edit_reached_orders(new_user, tickets_url, orders_url):
    seller, buyer, scout = new_user(), new_user(), new_user()
    ticket = listed_and_replicated(seller, scout, tickets_url, orders_url)
    edit_price(seller, tickets_url, ticket, NEW_PRICE)
    wait_until_orders_charges(scout, orders_url, ticket["id"], NEW_PRICE)

    refused = buyer.http.post(f"{orders_url}/api/orders", json={"ticket_id": ticket["id"], "expected_total": OLD_PRICE})

    assert refused.status_code == 409
    assert refused.json() == {"errors": [{"message": "The price changed", "field": "expected_total"}]}
    assert buyer.http.get(f"{orders_url}/api/orders").json()["count"] == 0
    taken = buyer.http.post(f"{orders_url}/api/orders", json={"ticket_id": ticket["id"], "expected_total": NEW_PRICE})
    assert taken.status_code == 201, taken.text
    assert (taken.json()["ticket"]["price"], taken.json()["cancel_reason"]) == (NEW_PRICE, None)
