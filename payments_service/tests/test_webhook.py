"""``POST /api/payments/webhook``: signed Stripe events, settled like the API settles."""

import json
import time
import uuid

import pytest
import requests

from payments import stripe_gateway as gateway
from payments.models import Order, Payment
from tests.conftest import charged_intent, pay, refunds_for, signature, stripe_event
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def test_a_payment_confirmed_asynchronously_completes_the_order(order, post_webhook, outbox):
    intent = charged_intent(order.id)  # confirmed in the browser, not through our API

    response = post_webhook(stripe_event("payment_intent.succeeded", intent))

    assert response.status_code == 200
    assert response.json() == {"received": True}
    payment = Payment.objects.get()
    assert (payment.order_id, payment.stripe_id, payment.status) == (order.id, intent.id, Payment.Status.SUCCEEDED)
    assert outbox("payment.created") == [
        {
            "type": "payment.created",
            "aggregateid": str(payment.id),
            "data": {"id": str(payment.id), "order_id": str(order.id), "stripe_id": intent.id, "amount": "20.00"},
        }
    ]


def test_a_redelivered_event_changes_nothing(order, post_webhook, outbox):
    payload = stripe_event("payment_intent.succeeded", charged_intent(order.id))

    assert post_webhook(payload).status_code == 200
    assert post_webhook(payload).status_code == 200

    assert Payment.objects.count() == 1
    assert len(outbox("payment.created")) == 1


def test_the_webhook_after_the_api_recorded_the_payment_changes_nothing(
    buyer, order, post_webhook, outbox, stripe_client
):
    payment_id = pay(buyer, order.id).json()["id"]
    intent = stripe_client.v1.payment_intents.retrieve(Payment.objects.get().stripe_id)

    assert post_webhook(stripe_event("payment_intent.succeeded", intent)).status_code == 200

    assert list(Payment.objects.values_list("id", flat=True)) == [uuid.UUID(payment_id)]
    assert len(outbox("payment.created")) == 1


@pytest.mark.parametrize(
    "header",
    [
        None,
        "t=1,v1=deadbeef",
        "garbage",
        pytest.param("other-secret", id="signed with another secret"),
        pytest.param("stale", id="signed ten minutes ago"),
    ],
)
def test_a_badly_signed_event_is_400_and_changes_nothing(order, post_webhook, outbox, header):
    payload = stripe_event("payment_intent.succeeded", charged_intent(order.id))
    if header == "other-secret":
        header = signature(payload, secret="whsec_someone_else")
    elif header == "stale":
        header = signature(payload, timestamp=int(time.time()) - 600)

    response = post_webhook(payload, header)

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["message"] in ("Invalid Stripe signature", "Missing Stripe-Signature header")
    assert not Payment.objects.exists()
    assert outbox() == []


def test_a_signed_body_that_is_not_json_is_400(post_webhook):
    response = post_webhook(b"not json")

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Invalid webhook payload"}]}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[1, 2]", id="a list"),
        pytest.param(b'"payment_intent.succeeded"', id="a string"),
        pytest.param(b"null", id="null"),
        pytest.param(b"{}", id="an empty object"),
        pytest.param(b'{"id": "evt_1", "type": "payment_intent.succeeded"}', id="no data"),
        pytest.param(b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": [1]}', id="data a list"),
        pytest.param(b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {}}', id="no object"),
        pytest.param(
            b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": "pi_1"}}', id="object a string"
        ),
        pytest.param(b'{"id": "evt_1", "data": {"object": {}}}', id="no type"),
        pytest.param(b'{"id": "evt_1", "type": 7, "data": {"object": {}}}', id="type a number"),
        pytest.param(b'{"type": "charge.succeeded", "data": {"object": {}}}', id="no id"),
        pytest.param(b"\xff\xfe not utf-8", id="not utf-8"),
        pytest.param(b"[" * 100_000, id="absurdly nested"),
    ],
)
def test_a_signed_body_that_is_not_an_event_is_400(post_webhook, outbox, body):
    response = post_webhook(body)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Invalid webhook payload"}]}
    assert outbox() == []


def spoiled(intent, **changes) -> dict:
    """``intent`` as a webhook would carry it, with ``changes`` (a value of ``...`` drops the key)."""
    obj = intent.to_dict()
    for key, value in changes.items():
        if value is ...:
            del obj[key]
        else:
            obj[key] = value
    return obj


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"status": ...}, id="no status"),
        pytest.param({"status": None}, id="status null"),
        pytest.param({"id": ...}, id="no id"),
        pytest.param({"id": 42}, id="id a number"),
        pytest.param({"id": "pi_" + "x" * 300}, id="id too long"),
        pytest.param({"amount": ...}, id="no amount"),
        pytest.param({"amount": "2000"}, id="amount a string"),
        pytest.param({"amount": 20.5}, id="amount a float"),
        pytest.param({"amount": True}, id="amount a boolean"),
        pytest.param({"amount": -2000}, id="amount negative"),
        pytest.param({"amount": 10**12}, id="amount too large"),
        pytest.param({"currency": ...}, id="no currency"),
        pytest.param({"currency": "dollars"}, id="currency not a code"),
        pytest.param({"currency": 840}, id="currency a number"),
        pytest.param({"metadata": ["order_id"]}, id="metadata a list"),
    ],
)
def test_a_succeeded_event_with_an_unusable_intent_is_400_and_changes_nothing(order, post_webhook, outbox, changes):
    payload = stripe_event("payment_intent.succeeded", spoiled(charged_intent(order.id), **changes))

    response = post_webhook(payload)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": gateway.INVALID_PAYMENT_INTENT}]}
    assert not Payment.objects.exists()
    assert outbox() == []


@pytest.mark.parametrize("status", ["processing", "requires_payment_method", "canceled"])
def test_a_succeeded_event_whose_intent_has_not_succeeded_is_400_and_changes_nothing(
    order, post_webhook, outbox, status
):
    intent = charged_intent(order.id)

    response = post_webhook(stripe_event("payment_intent.succeeded", spoiled(intent, status=status)))

    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": f"payment_intent.succeeded for a PaymentIntent whose status is '{status}'"}]
    }
    assert not Payment.objects.exists()
    assert outbox() == []


def test_an_intent_without_metadata_is_acknowledged(post_webhook, outbox):
    intent = charged_intent(uuid.uuid4())

    response = post_webhook(stripe_event("payment_intent.succeeded", spoiled(intent, metadata=None)))

    assert response.status_code == 200
    assert not Payment.objects.exists()
    assert outbox() == []


def test_an_intent_that_already_pays_another_order_is_neither_settled_nor_refunded(
    buyer, order, post_webhook, outbox, stripe_client
):
    """Its metadata names a second order: that order stays unpaid and the first keeps its charge."""
    assert pay(buyer, order.id).status_code == 201
    payment = Payment.objects.get()
    intent = stripe_client.v1.payment_intents.retrieve(payment.stripe_id)
    other = OrderFactory()

    response = post_webhook(
        stripe_event("payment_intent.succeeded", spoiled(intent, metadata={"order_id": str(other.id)}))
    )

    assert response.status_code == 200
    assert list(Payment.objects.all()) == [payment]
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert refunds_for(payment.stripe_id) == []
    assert len(outbox("payment.created")) == 1


def test_a_signed_event_with_extra_fields_we_do_not_know_still_settles(order, post_webhook):
    """Stripe adds fields over time: only the ones we act on are checked."""
    body = json.loads(stripe_event("payment_intent.succeeded", charged_intent(order.id)))
    body["data"]["object"]["brand_new_field"] = {"nested": [1, 2]}
    body["api_version"] = "2099-01-01"

    response = post_webhook(json.dumps(body).encode())

    assert response.status_code == 200
    assert Payment.objects.get().status == Payment.Status.SUCCEEDED


def test_other_event_types_are_acknowledged_and_ignored(order, post_webhook, outbox, stripe_client):
    intent = stripe_client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd", "metadata": {"order_id": str(order.id)}}
    )

    response = post_webhook(stripe_event("payment_intent.created", intent))

    assert response.status_code == 200
    assert response.json() == {"received": True, "ignored": True}
    assert not Payment.objects.exists()
    assert outbox() == []


def test_an_intent_for_an_order_we_do_not_know_is_acknowledged(post_webhook, outbox):
    response = post_webhook(stripe_event("payment_intent.succeeded", charged_intent(uuid.uuid4())))

    assert response.status_code == 200
    assert not Payment.objects.exists()
    assert outbox() == []


def test_an_asynchronous_payment_for_a_cancelled_order_is_refunded(
    post_webhook, outbox, eager_tasks, django_capture_on_commit_callbacks
):
    order = OrderFactory(status=Order.Status.CANCELLED, version=1)
    intent = charged_intent(order.id)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(stripe_event("payment_intent.succeeded", intent))

    assert response.status_code == 200
    payment = Payment.objects.get()
    assert payment.status == Payment.Status.REFUNDED
    assert [refund.id for refund in refunds_for(intent.id)] == [payment.refund_id]
    assert outbox("payment.created") == []
    assert len(outbox("payment.refunded")) == 1


def test_a_second_charge_for_a_paid_order_is_refunded(buyer, order, post_webhook, outbox):
    """Should a second PaymentIntent ever succeed for one order, the buyer gets it back."""
    assert pay(buyer, order.id).status_code == 201
    extra = charged_intent(order.id)

    assert post_webhook(stripe_event("payment_intent.succeeded", extra)).status_code == 200

    assert Payment.objects.get().stripe_id != extra.id
    assert len(refunds_for(extra.id)) == 1
    assert len(outbox("payment.created")) == 1


@pytest.mark.django_db(transaction=True)
def test_localstripe_delivers_signed_webhooks_we_accept(live_server, settings):
    """End to end: localstripe itself signs and posts the event to a running server."""
    order = OrderFactory()
    base = settings.STRIPE["API_BASE"]
    hook = f"payments-test-{uuid.uuid4().hex[:8]}"
    auth = (settings.STRIPE["SECRET_KEY"], "")
    requests.post(
        f"{base}/_config/webhooks/{hook}",
        auth=auth,
        timeout=5,
        json={
            "url": f"{live_server.url}/api/payments/webhook",
            "secret": settings.STRIPE["WEBHOOK_SECRET"],
            "events": ["payment_intent.succeeded"],
        },
    ).raise_for_status()
    try:
        intent = charged_intent(order.id)
        deadline = time.monotonic() + 15
        while not Payment.objects.filter(stripe_id=intent.id).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:  # localstripe cannot forget a webhook: point it at nothing
        requests.post(
            f"{base}/_config/webhooks/{hook}",
            auth=auth,
            timeout=5,
            json={
                "url": "http://127.0.0.1:9/",
                "secret": "unused",
                "events": ["none"],
            },
        )

    payment = Payment.objects.get(stripe_id=intent.id)
    assert (payment.order_id, payment.status) == (order.id, Payment.Status.SUCCEEDED)
