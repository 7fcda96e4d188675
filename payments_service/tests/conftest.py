"""Fixtures for the payments suite. Stripe is the real localstripe of ``STRIPE_API_BASE``."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
from django.conf import settings

from payments import stripe_gateway as gateway
from tests.factories import OrderFactory

DECLINED_CARD = "4000000000000341"  # attaches, then every charge is declined
DECLINED_ON_ATTACH_CARD = "4000000000000002"


@pytest.fixture
def order(db):
    return OrderFactory()


@pytest.fixture
def buyer(authed_client, order):
    """An API client signed in as the buyer of ``order``."""
    return authed_client(user_id=str(order.user_id), email="buyer@example.com")


def pay(client, order_id: Any, payment_method: str = "pm_card_visa"):
    return client.post("/api/payments", {"order_id": str(order_id), "payment_method": payment_method}, format="json")


@pytest.fixture
def stripe_client():
    return gateway.client()


def intents_for(order_id: Any) -> list[dict]:
    """Every PaymentIntent localstripe holds for this order, by our metadata."""
    listing = gateway.client().v1.payment_intents.list(params={"limit": 100})
    return [
        intent
        for intent in listing.auto_paging_iter()
        if (intent.to_dict().get("metadata") or {}).get("order_id") == str(order_id)
    ]


def refunds_for(intent_id: str) -> list[dict]:
    return list(gateway.client().v1.refunds.list(params={"payment_intent": intent_id}).data)


def card_method(number: str) -> str:
    method = gateway.client().v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    return method.id


def card_token(number: str = "4242424242424242") -> str:
    token = gateway.client().v1.tokens.create(
        params={"card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    return token.id


def charged_intent(order_id: Any, *, amount: int = 2000, currency: str = "usd", confirm: bool = True) -> dict:
    """A PaymentIntent for the order made straight at Stripe, as a browser confirmation would."""
    client = gateway.client()
    intent = client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": currency,
            "payment_method": "pm_card_visa",
            "metadata": {"order_id": str(order_id)},
        }
    )
    return client.v1.payment_intents.confirm(intent.id) if confirm else intent


def signature(payload: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header, computed the way Stripe does."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    secret = settings.STRIPE["WEBHOOK_SECRET"] if secret is None else secret
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def stripe_event(event_type: str, obj: Any) -> bytes:
    body = {
        "id": f"evt_{uuid.uuid4().hex[:14]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": obj.to_dict() if hasattr(obj, "to_dict") else obj},
    }
    return json.dumps(body).encode()


@pytest.fixture
def post_webhook(api_client):
    def post(payload: bytes, signature_header: str | None = "sign"):
        headers = {}
        if signature_header == "sign":
            headers["HTTP_STRIPE_SIGNATURE"] = signature(payload)
        elif signature_header is not None:
            headers["HTTP_STRIPE_SIGNATURE"] = signature_header
        return api_client.post("/api/payments/webhook", data=payload, content_type="application/json", **headers)

    return post


@pytest.fixture
def eager_tasks():
    """Celery tasks run in the caller, so a refund dispatched on commit happens before we assert."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


class StripeOutage:
    """Stripe unreachable (a closed port, no retries) from ``start()`` to ``end()``."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.working = settings.STRIPE

    def start(self) -> None:
        self.settings.STRIPE = {**self.working, "API_BASE": "http://127.0.0.1:9", "MAX_NETWORK_RETRIES": 0}

    def end(self) -> None:
        self.settings.STRIPE = self.working


@pytest.fixture
def stripe_outage(settings):
    return StripeOutage(settings)
