"""The services are stubbed at the HTTP boundary (``responses``); sessions use the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import responses
from django.test import Client
from django.utils import timezone

AUTH = "http://auth.test"
TICKETS = "http://tickets.test"
ORDERS = "http://orders.test"
PAYMENTS = "http://payments.test"


@pytest.fixture(autouse=True)
def _services(settings) -> None:
    settings.SERVICE_URLS = {"auth": AUTH, "tickets": TICKETS, "orders": ORDERS, "payments": PAYMENTS}
    settings.SERVICE_PROPAGATION_WAIT_SECONDS = 0.5
    settings.STRIPE_JS_URL = "http://stripe.test/js.stripe.com/v3/"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_unit"


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    """Every HTTP call must be stubbed: an unexpected one fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def new_id() -> str:
    return str(uuid.uuid4())


SELLER_ID = new_id()
BUYER_ID = new_id()


def session_data(
    user_id: str = BUYER_ID, email: str = "buyer@example.com", access: str = "access-1", refresh: str = "refresh-1"
) -> dict[str, str]:
    return {"id": user_id, "email": email, "access": access, "refresh": refresh}


@pytest.fixture
def signed_in(client: Client) -> Callable[..., Client]:
    """``signed_in(user_id=..., email=..., access=..., refresh=...)``: the client, with that user's session."""

    def sign_in(**data: Any) -> Client:
        session = client.session
        session["auth"] = session_data(**data)
        session.save()
        return client

    return sign_in


def ticket_json(**overrides: Any) -> dict[str, Any]:
    ticket = {
        "id": new_id(),
        "title": "Jazz night",
        "price": "20.00",
        "user_id": SELLER_ID,
        "order_id": None,
        "version": 1,
    }
    return {**ticket, **overrides}


def order_json(*, seconds_left: int = 600, **overrides: Any) -> dict[str, Any]:
    order = {
        "id": new_id(),
        "status": "created",
        "expires_at": (timezone.now() + timedelta(seconds=seconds_left)).isoformat(),
        "user_id": BUYER_ID,
        "version": 1,
        "ticket": {"id": new_id(), "title": "Jazz night", "price": "20.00"},
    }
    return {**order, **overrides}


def page_json(results: list[dict[str, Any]], count: int | None = None) -> dict[str, Any]:
    return {"count": len(results) if count is None else count, "next": None, "previous": None, "results": results}


def errors(*items: tuple[str, str | None]) -> dict[str, Any]:
    return {"errors": [{"message": message, **({"field": field} if field else {})} for message, field in items]}


def bearer(call: responses.Call) -> str:
    return call.request.headers.get("Authorization", "")


def flashes(response) -> list[str]:
    """The messages the request that made ``response`` queued for the next page."""
    from django.contrib.messages import get_messages

    return [str(message) for message in get_messages(response.wsgi_request)]
