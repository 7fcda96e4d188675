"""The cart (Add to cart, one payment for all, remove) and gifts (owned tickets, Gift, claim)."""

from __future__ import annotations

from responses import matchers

from tests.conftest import (
    BUYER_ID,
    ORDERS,
    PAYMENTS,
    TICKETS,
    errors,
    flashes,
    new_id,
    order_json,
    page_json,
    ticket_json,
)


def cart_json(*prices: str, **overrides) -> dict:
    tickets = [{"id": new_id(), "title": f"Seat {i}", "price": price} for i, price in enumerate(prices, 1)]
    total = f"{sum(float(p) for p in prices):.2f}"
    return order_json(ticket=tickets[0], tickets=tickets, total=total, **overrides)


def test_add_to_cart_starts_a_cart_and_the_navigation_counts_it(signed_in, api):
    ticket = ticket_json()
    order = cart_json("20.00")
    order["ticket"] = order["tickets"][0] = {"id": ticket["id"], "title": "Jazz night", "price": "20.00"}
    api.get(f"{ORDERS}/api/orders", json=page_json([]))
    api.post(f"{ORDERS}/api/orders", json=order, status=201,
             match=[matchers.json_params_matcher({"ticket_ids": [ticket["id"]]})])
    client = signed_in()

    response = client.post(f"/tickets/{ticket['id']}/cart")

    assert response.status_code == 302 and response["Location"] == f"/orders/{order['id']}"
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=order)
    html = client.get(response["Location"]).content.decode()
    assert 'data-testid="cart-size">1</span>' in html
    assert "data-countdown" in html


def test_add_to_cart_adds_to_the_open_order(signed_in, api):
    ticket = ticket_json()
    before = cart_json("20.00")
    after = {**before, "tickets": [*before["tickets"], {"id": ticket["id"], "title": "Jazz", "price": "15.00"}],
             "total": "35.00"}
    api.get(f"{ORDERS}/api/orders", json=page_json([before]))
    api.post(f"{ORDERS}/api/orders/{before['id']}/tickets", json=after,
             match=[matchers.json_params_matcher({"ticket_id": ticket["id"]})])
    client = signed_in()

    response = client.post(f"/tickets/{ticket['id']}/cart")

    assert response["Location"] == f"/orders/{before['id']}"
    api.get(f"{ORDERS}/api/orders/{before['id']}", json=after)
    html = client.get(response["Location"]).content.decode()
    assert 'data-testid="cart-size">2</span>' in html
    assert 'data-testid="order-total">$35.00' in html
    assert "Pay $35.00" in html and 'name="expected_total" value="35.00"' in html
    assert html.count("Remove<span") == 2


def test_a_taken_ticket_is_not_added(signed_in, api):
    ticket = ticket_json()
    api.get(f"{ORDERS}/api/orders", json=page_json([]))
    api.post(f"{ORDERS}/api/orders", json=errors(("Tickets cannot be reserved", "ticket_ids")), status=400)

    response = signed_in().post(f"/tickets/{ticket['id']}/cart")

    assert response["Location"] == f"/tickets/{ticket['id']}"
    assert flashes(response) == ["Tickets cannot be reserved"]


def test_removing_a_ticket_from_the_cart(signed_in, api):
    order = cart_json("20.00", "15.00")
    gone = order["tickets"][0]["id"]
    left = {**order, "tickets": order["tickets"][1:], "ticket": order["tickets"][1], "total": "15.00"}
    api.delete(f"{ORDERS}/api/orders/{order['id']}/tickets/{gone}", json=left)

    response = signed_in().post(f"/orders/{order['id']}/tickets/{gone}/remove")

    assert response["Location"] == f"/orders/{order['id']}"
    assert flashes(response) == ["Removed from your cart; the ticket is back on sale."]


def test_paying_the_cart_sends_the_total_shown(signed_in, api):
    order = cart_json("20.00", "15.00")
    api.post(f"{PAYMENTS}/api/payments", status=201,
             json={"id": new_id(), "order_id": order["id"], "stripe_id": "pi_1", "amount": "35.00",
                   "status": "succeeded"},
             match=[matchers.json_params_matcher({"order_id": order["id"], "payment_method": "tok_visa",
                                                  "expected_total": "35.00"})])
    api.get(f"{ORDERS}/api/orders/{order['id']}", json={**order, "status": "complete"})

    response = signed_in().post(f"/orders/{order['id']}/pay", {"token": "tok_visa", "expected_total": "35.00"})

    assert response.status_code == 302


def test_an_empty_cart(signed_in, api):
    api.get(f"{ORDERS}/api/orders", json=page_json([order_json(status="complete")]))
    html = signed_in().get("/cart").content.decode()
    assert 'data-testid="cart-empty"' in html


def test_my_tickets_separates_owned_from_selling_and_offers_a_gift(signed_in, api):
    selling = ticket_json(title="Selling one", user_id=BUYER_ID, status="available")
    owned = ticket_json(title="Owned one", owner_id=BUYER_ID, gift=None)
    gifted = ticket_json(title="Gifted one", owner_id=BUYER_ID, gift={"code": "abcDEF123_-x", "expires_at": "x"})
    api.get(f"{TICKETS}/api/tickets/mine", json=page_json([selling]))
    api.get(f"{TICKETS}/api/tickets/owned", json=page_json([owned, gifted]))

    html = signed_in().get("/tickets/mine").content.decode()

    owned_part, selling_part = html.split('id="selling-heading"')
    assert "Owned one" in owned_part and "Gifted one" in owned_part and "Selling one" not in owned_part
    assert "Selling one" in selling_part
    assert f'action="/tickets/{owned["id"]}/gift"' in owned_part
    assert 'href="/gifts/abcDEF123_-x"' in owned_part and 'action="/gifts/abcDEF123_-x/revoke"' in owned_part


def test_gift_shows_the_link(signed_in, api):
    ticket_id = new_id()
    api.post(f"{TICKETS}/api/tickets/{ticket_id}/gift", status=201, json={"code": "C0de", "expires_at": "x"})

    response = signed_in().post(f"/tickets/{ticket_id}/gift")

    assert response["Location"] == "/tickets/mine"
    [flash] = flashes(response)
    assert flash.endswith("http://testserver/gifts/C0de")


def test_the_claim_page_asks_a_visitor_to_sign_up_and_come_back(client):
    html = client.get("/gifts/C0de").content.decode()
    assert 'href="/signup?next=/gifts/C0de"' in html and 'href="/signin?next=/gifts/C0de"' in html


def test_claiming_a_gift(signed_in, api):
    api.post(f"{TICKETS}/api/tickets/gifts/C0de/claim", json=ticket_json(title="Opera", owner_id=BUYER_ID))

    response = signed_in().post("/gifts/C0de")

    assert response["Location"] == "/tickets/mine"
    assert flashes(response) == ["“Opera” is yours now. Enjoy!"]


def test_a_spent_gift_says_so(signed_in, api):
    api.post(f"{TICKETS}/api/tickets/gifts/C0de/claim", status=404,
             json=errors(("This gift does not exist, has expired, was revoked or was already claimed.", None)))

    response = signed_in().post("/gifts/C0de")

    assert response.status_code == 404
    assert "already claimed" in response.content.decode()


def test_a_card_needing_3d_secure_is_authenticated_in_the_browser_then_confirmed(signed_in, api):
    order = order_json()
    payment_id = new_id()
    api.post(f"{PAYMENTS}/api/payments", status=202,
             json={"id": payment_id, "order_id": order["id"], "stripe_id": "pi_3ds", "amount": "20.00",
                   "status": "requires_action", "client_secret": "pi_3ds_secret_abc"})
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=order)
    client = signed_in()

    page = client.post(f"/orders/{order['id']}/pay", {"token": "tok_threeDSecure2Required", "expected_total": "20.00"})

    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="authenticate-form"' in html and 'data-client-secret="pi_3ds_secret_abc"' in html
    assert f'name="payment_id" value="{payment_id}"' in html
    assert f'action="/orders/{order["id"]}/pay/confirm"' in html

    api.post(f"{PAYMENTS}/api/payments/{payment_id}/confirm",
             json={"id": payment_id, "order_id": order["id"], "stripe_id": "pi_3ds", "amount": "20.00",
                   "status": "succeeded"})
    api.get(f"{ORDERS}/api/orders/{order['id']}", json={**order, "status": "complete"})
    done = client.post(f"/orders/{order['id']}/pay/confirm", {"payment_id": payment_id})

    assert done["Location"] == f"/orders/{order['id']}"
    assert flashes(done) == ["Payment received. The ticket is yours!"]


def test_a_failed_3d_secure_is_said_on_the_order_page(signed_in, api):
    order = order_json()
    payment_id = new_id()
    api.post(f"{PAYMENTS}/api/payments/{payment_id}/confirm", status=402,
             json=errors(("The provided PaymentMethod has failed authentication.", None)))

    response = signed_in().post(f"/orders/{order['id']}/pay/confirm", {"payment_id": payment_id})

    assert response["Location"] == f"/orders/{order['id']}"
    assert flashes(response) == ["The provided PaymentMethod has failed authentication."]
