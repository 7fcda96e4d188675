"""``POST /api/payments`` with an ``Idempotency-Key``: a retry never charges twice, and hears the first answer."""

import uuid

import pytest

from payments import stripe_gateway as gateway
from payments.models import Payment
from tests.conftest import DECLINED_CARD, card_method, intents_for
from tests.factories import OrderFactory
from ticketing_shared.idempotency.models import IdempotencyKey
from ticketing_shared.testing.helpers import run_concurrently

pytestmark = pytest.mark.django_db


def pay_once(client, order_id, key="pay-key-1", payment_method="pm_card_visa"):
    return client.post("/api/payments", {"order_id": str(order_id), "payment_method": payment_method},
                       format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retry_returns_the_first_payment_and_charges_nothing_more(buyer, order, outbox):
    first = pay_once(buyer, order.id)
    again = pay_once(buyer, order.id)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()  # not "Order already paid": the answer the buyer missed
    assert again["Idempotent-Replayed"] == "true"
    assert [intent.status for intent in intents_for(order.id)] == ["succeeded"]
    assert Payment.objects.count() == 1 and len(outbox("payment.created")) == 1


def test_the_same_key_for_another_payment_method_is_422_and_charges_nothing(buyer, order, outbox):
    pay_once(buyer, order.id)

    response = pay_once(buyer, order.id, payment_method="pm_card_mastercard")

    assert response.status_code == 422
    assert response.json() == {"errors": [{"message": "This Idempotency-Key was already used for a different request"}]}
    assert len(intents_for(order.id)) == 1


def test_keys_are_per_buyer(buyer, order, authed_client):
    theirs = OrderFactory()

    mine = pay_once(buyer, order.id)
    other = pay_once(authed_client(user_id=str(theirs.user_id)), theirs.id)

    assert mine.status_code == other.status_code == 201
    assert other.json()["order_id"] == str(theirs.id) and "Idempotent-Replayed" not in other
    assert Payment.objects.count() == 2


def test_a_declined_card_is_not_kept_so_the_same_key_may_try_again(buyer, order, outbox):
    """A decline charged nothing: the retry runs (and declines again, charging nothing again)."""
    declined = card_method(DECLINED_CARD)

    assert pay_once(buyer, order.id, payment_method=declined).status_code == 402
    assert pay_once(buyer, order.id, payment_method=declined).status_code == 402

    assert not IdempotencyKey.objects.exists()
    assert outbox() == []


def test_a_stripe_outage_is_not_kept_and_the_retry_pays_once(buyer, order, outbox, monkeypatch):
    """Stripe charged but its answer was lost (503): the retry with the same key finds that charge."""
    confirm = gateway.confirm_intent

    def confirm_then_lose_the_answer(intent_id, **kwargs):
        confirm(intent_id, **kwargs)
        raise gateway.ProviderUnavailable()

    monkeypatch.setattr(gateway, "confirm_intent", confirm_then_lose_the_answer)
    assert pay_once(buyer, order.id).status_code == 503
    monkeypatch.setattr(gateway, "confirm_intent", confirm)

    retry = pay_once(buyer, order.id)

    assert retry.status_code == 201, retry.json()
    assert len(intents_for(order.id)) == 1
    assert len(outbox("payment.created")) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_charge_once(authed_client, outbox):
    order = OrderFactory()
    key = str(uuid.uuid4())
    clients = [authed_client(user_id=str(order.user_id)) for _ in range(4)]

    def send(client) -> tuple[int, dict]:
        response = pay_once(client, order.id, key=key)
        return response.status_code, response.json()

    results = run_concurrently(send, clients)

    assert {status for status, _ in results} <= {201, 409}, results
    made = {body["id"] for status, body in results if status == 201}
    assert len(made) == 1
    assert [intent.status for intent in intents_for(order.id)] == ["succeeded"]
    assert len(outbox("payment.created")) == 1
