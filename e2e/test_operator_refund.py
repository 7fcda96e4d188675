"""An operator refunds a paid order in the payments admin: the order is cancelled and the ticket is on sale again."""

import os
import uuid

from conftest import eventually, service_url
from test_operators import admin_login


def refund_in_the_admin(payment_id: str) -> None:
    """"Refund through Stripe" on one payment, as an operator's browser would post it."""
    payments_admin = service_url("payments", 8004)
    browser = admin_login(
        payments_admin,
        os.environ.get("E2E_OPERATOR_EMAIL", "operator@example.com"),
        os.environ.get("E2E_OPERATOR_PASSWORD", "operator-dev-password"),
    )
    changelist = f"{payments_admin}/admin/payments/payment/"
    response = browser.post(
        changelist,
        data={"csrfmiddlewaretoken": browser.cookies["csrftoken"], "action": "refund", "_selected_action": payment_id},
        headers={"Referer": changelist},
    )
    assert response.status_code == 200 and "refunded (re_" in response.text, response.text[-2000:]


def test_an_operators_refund_cancels_the_order_and_frees_the_sold_ticket(
    new_user, tickets_url, orders_url, payments_url
):
    seller, buyer, next_buyer = new_user(), new_user(), new_user()
    title = f"Refunded {uuid.uuid4().hex[:8]}"
    ticket = seller.http.post(f"{tickets_url}/api/tickets", json={"title": title, "price": "12.00"}).json()

    def reserve(user):
        response = user.http.post(f"{orders_url}/api/orders", json={"ticket_id": ticket["id"]})
        return None if response.status_code == 404 else response

    order = eventually(lambda: reserve(buyer), what="the ticket to reach the orders service").json()

    def pay():
        response = buyer.http.post(f"{payments_url}/api/payments",
                                   json={"order_id": order["id"], "payment_method": "pm_card_visa"})
        return None if response.status_code == 404 else response

    payment = eventually(pay, what="the order to reach the payments service")
    assert payment.status_code == 201, payment.text
    eventually(lambda: seller.http.get(f"{tickets_url}/api/tickets/{ticket['id']}").json()["order_id"] == order["id"]
               and buyer.http.get(f"{orders_url}/api/orders/{order['id']}").json()["status"] == "complete",
               what="the order to complete and its ticket to be sold")

    refund_in_the_admin(payment.json()["id"])

    cancelled = eventually(
        lambda: (o := buyer.http.get(f"{orders_url}/api/orders/{order['id']}").json())["status"] == "cancelled" and o,
        what="the orders service to cancel the refunded order",
    )
    assert cancelled["cancel_reason"] == "operator"
    eventually(lambda: seller.http.get(f"{tickets_url}/api/tickets/{ticket['id']}").json()["order_id"] is None,
               what="the tickets service to put the ticket on sale again")
    listed = seller.http.get(f"{tickets_url}/api/tickets", params={"search": title}).json()["results"]
    assert [t["id"] for t in listed] == [ticket["id"]]
    again = next_buyer.http.post(f"{orders_url}/api/orders", json={"ticket_id": ticket["id"]})
    assert again.status_code == 201, again.text

    def payments_knows_it_is_cancelled() -> bool:
        response = buyer.http.post(f"{payments_url}/api/payments",
                                   json={"order_id": order["id"], "payment_method": "pm_card_visa"})
        return response.json() == {"errors": [{"message": "Order is cancelled"}]}

    eventually(payments_knows_it_is_cancelled, what="the payments service to hear of the cancel (nothing to refund)")
