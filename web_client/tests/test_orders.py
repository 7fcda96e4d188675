"""The order page, paying through Stripe.js tokens, cancelling, and my orders."""

from __future__ import annotations

import re

import pytest
import requests
from responses import matchers

from tests.conftest import ORDERS, PAYMENTS, bearer, errors, flashes, order_json, page_json


def pay_form_present(html: str) -> bool:
    return 'id="payment-form"' in html


def test_a_pending_order_shows_the_countdown_and_the_pay_form(signed_in, api):
    order = order_json(seconds_left=300)
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=order)

    response = signed_in(access="access-1").get(f"/orders/{order['id']}")

    assert response.status_code == 200
    assert bearer(api.calls[0]) == "Bearer access-1"
    html = response.content.decode()
    assert "<title>Order for Jazz night · Ticket Market</title>" in html
    assert "$20.00" in html
    assert 'data-state="created">Awaiting payment</span>' in html
    seconds = int(re.search(r'data-seconds-left="(\d+)"', html).group(1))
    assert 295 <= seconds <= 300
    assert 'data-expired-text="This reservation has expired"' in html
    assert pay_form_present(html)
    assert 'data-stripe-key="pk_test_unit"' in html
    assert '<script src="http://stripe.test/js.stripe.com/v3/"></script>' in html
    assert f'action="/orders/{order["id"]}/cancel"' in html


def test_an_order_past_its_time_is_expired_even_before_it_is_cancelled(signed_in, api):
    order = order_json(seconds_left=-5)
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=order)

    html = signed_in().get(f"/orders/{order['id']}").content.decode()

    assert "This reservation has expired" in html
    assert 'data-state="expired">Expired</span>' in html
    assert f'<a href="/tickets/{order["ticket"]["id"]}">See whether the ticket is for sale again</a>' in html
    assert not pay_form_present(html)
    assert "js.stripe.com" not in html


def test_a_complete_order_has_nothing_left_to_do(signed_in, api):
    order = order_json(status="complete")
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=order)

    html = signed_in().get(f"/orders/{order['id']}").content.decode()

    assert 'data-state="complete">Complete</span>' in html
    assert "Paid. The ticket is yours." in html
    assert not pay_form_present(html)
    assert "/cancel" not in html


@pytest.mark.parametrize(
    ("reason", "explanation"),
    [
        ("expired", "This order was cancelled because its reservation time ran out before it was paid."),
        ("by_buyer", "You cancelled this order."),
        (
            "price_changed",
            "This order was cancelled because the seller changed the ticket just before you reserved it "
            "(its price, or took it off sale). You pay nothing for it: a payment that went through is refunded.",
        ),
        ("operator", "Our support team cancelled this order. Any payment for it is refunded."),
        (None, "This order was cancelled."),
        ("a_reason_from_the_future", "This order was cancelled."),
    ],
)
def test_a_cancelled_order_says_why_in_words(signed_in, api, reason, explanation):
    order = order_json(status="cancelled", cancel_reason=reason)
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=order)

    html = signed_in().get(f"/orders/{order['id']}").content.decode()

    assert 'data-state="cancelled">Cancelled</span>' in html
    assert f'data-reason="{reason or ""}">{explanation}</div>' in html
    assert not pay_form_present(html)
    assert "/cancel" not in html


def test_an_order_cancelled_for_a_new_price_stands_out_and_leads_back_to_the_ticket(signed_in, api):
    order = order_json(status="cancelled", cancel_reason="price_changed")
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=order)

    html = signed_in().get(f"/orders/{order['id']}").content.decode()

    assert '<div class="alert alert-warning mt-3 mb-0"' in html
    link = f'<a href="/tickets/{order["ticket"]["id"]}">See whether the ticket is still for sale, and at what price</a>'
    assert link in html


def test_someone_elses_order_is_a_friendly_403(signed_in, api):
    order_id = order_json()["id"]
    api.get(f"{ORDERS}/api/orders/{order_id}", status=403, json=errors(("You do not have permission.", None)))

    response = signed_in().get(f"/orders/{order_id}")

    assert response.status_code == 403
    assert "<title>Not yours · Ticket Market</title>" in response.content.decode()


def test_an_unknown_order_is_a_friendly_404(signed_in, api):
    order_id = order_json()["id"]
    api.get(f"{ORDERS}/api/orders/{order_id}", status=404, json=errors(("Not found.", None)))
    assert signed_in().get(f"/orders/{order_id}").status_code == 404


def payment_json(order: dict) -> dict:
    return {
        "id": order_json()["id"],
        "order_id": order["id"],
        "stripe_id": "pi_1",
        "amount": "20.00",
        "status": "succeeded",
    }


def test_paying_posts_the_stripe_token_and_waits_for_the_order_to_complete(signed_in, api):
    order = order_json()
    api.post(
        f"{PAYMENTS}/api/payments",
        status=201,
        json=payment_json(order),
        match=[matchers.json_params_matcher({"order_id": order["id"], "payment_method": "tok_visa"})],
    )
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=order)  # the payment's event is on its way
    api.get(f"{ORDERS}/api/orders/{order['id']}", json={**order, "status": "complete"})

    response = signed_in(access="access-1").post(f"/orders/{order['id']}/pay", {"token": "tok_visa"})

    assert response["Location"] == f"/orders/{order['id']}"
    assert bearer(api.calls[0]) == "Bearer access-1"
    assert api.calls[0].request.headers["Idempotency-Key"], "a payment may be sent again safely"
    assert len(api.calls) == 3
    assert flashes(response) == ["Payment received. The ticket is yours!"]


def test_a_paid_order_the_orders_service_has_not_completed_yet_is_shown_as_paid(signed_in, api, settings):
    settings.SERVICE_PROPAGATION_WAIT_SECONDS = 0.1
    order = order_json(seconds_left=-1)  # even past its time: the payment came first
    api.post(f"{PAYMENTS}/api/payments", status=201, json=payment_json(order))
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=order)
    client = signed_in()
    client.post(f"/orders/{order['id']}/pay", {"token": "tok_visa"})

    html = client.get(f"/orders/{order['id']}").content.decode()

    assert 'data-state="paid">Payment received</span>' in html
    assert "Payment received. Confirming your order…" in html
    assert '<meta http-equiv="refresh" content="2">' in html
    assert not pay_form_present(html)
    assert "This reservation has expired" not in html


def test_a_payment_that_lost_the_race_against_a_cancel_is_not_called_a_purchase(signed_in, api):
    """The seller changed the price while the buyer paid: the order ends cancelled, the charge is refunded."""
    order = order_json()
    api.post(f"{PAYMENTS}/api/payments", status=201, json=payment_json(order))
    cancelled = {**order, "status": "cancelled", "cancel_reason": "price_changed"}
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=cancelled)

    response = signed_in().post(f"/orders/{order['id']}/pay", {"token": "tok_visa"})

    assert response["Location"] == f"/orders/{order['id']}"
    assert flashes(response) == ["The order was cancelled before your payment went through, so the charge is refunded."]


def test_a_paid_order_is_no_error_when_the_orders_service_is_slow_to_answer(signed_in, api):
    order = order_json()
    api.post(f"{PAYMENTS}/api/payments", status=201, json=payment_json(order))
    api.get(f"{ORDERS}/api/orders/{order['id']}", body=requests.ReadTimeout("slow"))

    response = signed_in().post(f"/orders/{order['id']}/pay", {"token": "tok_visa"})

    assert response["Location"] == f"/orders/{order['id']}"
    assert flashes(response) == ["Payment received. The ticket is yours!"]


def test_a_declined_card_shows_stripes_message_next_to_the_card(signed_in, api):
    order = order_json()
    api.post(f"{PAYMENTS}/api/payments", status=402, json=errors(("Your card was declined.", None)))
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=order)

    response = signed_in().post(f"/orders/{order['id']}/pay", {"token": "tok_declined"})

    assert response.status_code == 402
    html = response.content.decode()
    assert '<div id="card-errors" class="invalid-feedback d-block" role="alert">Your card was declined.</div>' in html
    assert 'aria-describedby="card-errors"' in html
    assert pay_form_present(html)  # try another card


def test_paying_for_an_order_that_cannot_be_paid_says_why(signed_in, api):
    order = order_json()
    api.post(f"{PAYMENTS}/api/payments", status=400, json=errors(("This order has expired.", None)))
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=order)

    response = signed_in().post(f"/orders/{order['id']}/pay", {"token": "tok_visa"})

    assert response.status_code == 400
    assert '<div class="alert alert-danger" role="alert" id="form-errors">' in response.content.decode()
    assert "This order has expired." in response.content.decode()


def test_paying_for_an_order_the_payments_service_has_not_heard_of_yet_waits_for_it(signed_in, api):
    order = order_json()
    api.post(f"{PAYMENTS}/api/payments", status=404, json=errors(("Order not found.", None)))
    api.post(f"{PAYMENTS}/api/payments", status=201, json=payment_json(order))
    api.get(f"{ORDERS}/api/orders/{order['id']}", json={**order, "status": "complete"})

    response = signed_in().post(f"/orders/{order['id']}/pay", {"token": "tok_visa"})

    assert response["Location"] == f"/orders/{order['id']}"


def test_paying_when_the_payments_service_is_down_keeps_the_page(signed_in, api):
    order = order_json()
    api.post(f"{PAYMENTS}/api/payments", body=requests.ReadTimeout("slow"))
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=order)

    response = signed_in().post(f"/orders/{order['id']}/pay", {"token": "tok_visa"})

    assert response.status_code == 503
    assert "The payments service is unavailable, please try again." in response.content.decode()
    assert pay_form_present(response.content.decode())


def test_paying_without_a_card_token_asks_for_the_card(signed_in, api):
    order = order_json()
    api.get(f"{ORDERS}/api/orders/{order['id']}", json=order)

    response = signed_in().post(f"/orders/{order['id']}/pay", {})

    assert response.status_code == 400
    assert "Please enter your card details." in response.content.decode()
    assert all(PAYMENTS not in call.request.url for call in api.calls)


def test_cancelling_an_order(signed_in, api):
    order_id = order_json()["id"]
    api.delete(f"{ORDERS}/api/orders/{order_id}", status=204)

    response = signed_in().post(f"/orders/{order_id}/cancel")

    assert response["Location"] == f"/orders/{order_id}"
    assert flashes(response) == ["Your order was cancelled and the ticket is back on sale."]


def test_a_complete_order_cannot_be_cancelled(signed_in, api):
    order_id = order_json()["id"]
    api.delete(f"{ORDERS}/api/orders/{order_id}", status=400, json=errors(("Cannot cancel a complete order", None)))

    response = signed_in().post(f"/orders/{order_id}/cancel")

    assert flashes(response) == ["Cannot cancel a complete order"]


def test_my_orders_lists_status_and_time_left_for_pending_ones(signed_in, api):
    pending = order_json(seconds_left=125, ticket={"id": order_json()["id"], "title": "Pending one", "price": "5.00"})
    done = order_json(status="complete", ticket={"id": order_json()["id"], "title": "Paid one", "price": "7.50"})
    api.get(
        f"{ORDERS}/api/orders",
        json=page_json([pending, done]),
        match=[matchers.query_param_matcher({"limit": "20", "offset": "0"})],
    )

    html = signed_in().get("/orders").content.decode()

    assert "<title>My orders · Ticket Market</title>" in html
    assert html.index("Pending one") < html.index("Paid one")
    assert "$5.00" in html and "$7.50" in html
    assert 'data-state="complete">Complete</span>' in html
    assert html.count("data-countdown ") == 1
    assert re.search(r"<span data-countdown-clock>2:0\d</span> left", html)


def test_orders_need_a_signed_in_user(client):
    response = client.get("/orders")
    assert response["Location"] == "/signin?next=%2Forders"
