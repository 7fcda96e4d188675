"""Selling and reserving through the running stack: tickets and orders agree through events."""

import uuid

import pytest

from conftest import eventually

pytestmark = pytest.mark.usefixtures("tickets_url", "orders_url")


def free_titles(http, tickets_url, search: str) -> list[str]:
    response = http.get(f"{tickets_url}/api/tickets", params={"search": search})
    assert response.status_code == 200
    return [ticket["title"] for ticket in response.json()["results"]]


def reserve(buyer, orders_url, ticket_id):
    """The orders service learns about a ticket from its event: retry while it is unknown there."""

    def attempt():
        response = buyer.http.post(f"{orders_url}/api/orders", json={"ticket_id": ticket_id})
        return None if response.status_code == 404 else response

    return eventually(attempt, what="the ticket to reach the orders service")


def test_list_reserve_cancel_and_edit_again(new_user, tickets_url, orders_url):
    seller, buyer, rival = new_user(), new_user(), new_user()
    title = f"Concert {uuid.uuid4().hex[:8]}"

    created = seller.http.post(f"{tickets_url}/api/tickets", json={"title": title, "price": "20.00"})
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert ticket["user_id"] == seller.id
    assert (ticket["title"], ticket["price"], ticket["order_id"]) == (title, "20.00", None)
    assert title in free_titles(seller.http, tickets_url, title)

    response = reserve(buyer, orders_url, ticket["id"])
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "created"
    assert order["user_id"] == buyer.id
    assert order["ticket"] == {"id": ticket["id"], "title": title, "price": "20.00"}

    held = eventually(
        lambda: (t := seller.http.get(f"{tickets_url}/api/tickets/{ticket['id']}").json())["order_id"] and t,
        what="the ticket to show its order",
    )
    assert held["order_id"] == order["id"]
    assert title not in free_titles(seller.http, tickets_url, title)

    taken = rival.http.post(f"{orders_url}/api/orders", json={"ticket_id": ticket["id"]})
    assert taken.status_code == 400
    assert taken.json() == {"errors": [{"message": "Ticket is already reserved"}]}

    refused = seller.http.put(f"{tickets_url}/api/tickets/{ticket['id']}", json={"title": title, "price": "25.00"})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"] == "Cannot edit a reserved ticket"

    assert buyer.http.delete(f"{orders_url}/api/orders/{order['id']}").status_code == 204
    assert buyer.http.get(f"{orders_url}/api/orders/{order['id']}").json()["status"] == "cancelled"

    eventually(lambda: title in free_titles(seller.http, tickets_url, title), what="the ticket to be free again")
    edited = seller.http.put(f"{tickets_url}/api/tickets/{ticket['id']}", json={"title": title + " (balcony)",
                                                                                 "price": "25.00"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] > held["version"]

    again = reserve(rival, orders_url, ticket["id"])
    assert again.status_code == 201
    assert again.json()["ticket"]["id"] == ticket["id"]


def test_orders_are_private_to_their_buyer(new_user, tickets_url, orders_url):
    seller, buyer, stranger = new_user(), new_user(), new_user()
    ticket = seller.http.post(f"{tickets_url}/api/tickets", json={"title": "Private view", "price": 5}).json()
    order = reserve(buyer, orders_url, ticket["id"]).json()

    assert stranger.http.get(f"{orders_url}/api/orders/{order['id']}").status_code == 403
    assert stranger.http.delete(f"{orders_url}/api/orders/{order['id']}").status_code == 403
    assert [o["id"] for o in buyer.http.get(f"{orders_url}/api/orders").json()["results"]] == [order["id"]]
    assert stranger.http.get(f"{orders_url}/api/orders").json()["count"] == 0


def test_the_apis_refuse_anonymous_writes(http, tickets_url, orders_url):
    assert http.post(f"{tickets_url}/api/tickets", json={"title": "x", "price": 1}).status_code == 401
    assert http.post(f"{orders_url}/api/orders", json={"ticket_id": str(uuid.uuid4())}).status_code == 401
    assert http.get(f"{orders_url}/api/orders").status_code == 401
