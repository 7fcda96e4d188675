"""Every call we make to Stripe, and what its failures mean to us.

The SDK's errors become three outcomes the rest of the service reasons about: the
card was declined (402, Stripe's message), Stripe refused our request as invalid,
or Stripe could not be reached or answered with a server error (503; try again).
Settings come from ``settings.STRIPE``; the local run and the tests point
``API_BASE`` at localstripe.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

import stripe
from django.conf import settings

from ticketing_shared.errors import InvalidState, PaymentRefused, Unavailable

logger = logging.getLogger(__name__)

PROVIDER_UNAVAILABLE = "Payment provider unavailable, please try again"
INVALID_WEBHOOK_PAYLOAD = "Invalid webhook payload"
INVALID_PAYMENT_INTENT = "Invalid PaymentIntent in webhook payload"

# ``Payment.amount`` is ``max_digits=10, decimal_places=2``.
MAX_AMOUNT = Decimal("100000000")

# Currencies Stripe charges in whole units (https://docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL_CURRENCIES = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)


class CardDeclined(PaymentRefused):
    default_message = "Your card was declined."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class ProviderUnavailable(Unavailable):
    """Stripe could not be reached or failed on its side: nothing is known to have happened."""

    def __init__(self, message: str = PROVIDER_UNAVAILABLE) -> None:
        super().__init__(message)


class InvalidRequest(Exception):
    """Stripe refused the request itself (unknown payment method, an object in the wrong state...)."""

    def __init__(self, message: str, *, http_status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code


class BadWebhook(InvalidState):
    """A webhook whose signature or body does not check out, or that we cannot act on (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class Intent:
    """The parts of a PaymentIntent we act on."""

    id: str
    status: str
    amount: int
    currency: str
    metadata: dict[str, str] = field(default_factory=dict)
    error_message: str = ""
    # Lets Stripe.js in the buyer's browser finish a step such as 3-D Secure (``requires_action``).
    client_secret: str = ""

    @classmethod
    def from_stripe(cls, obj: Any) -> Intent:
        """From an SDK object or the plain dict of a webhook's payload."""
        data = obj.to_dict() if isinstance(obj, stripe.StripeObject) else obj
        error = data.get("last_payment_error") or {}
        return cls(
            id=data["id"],
            status=data["status"],
            amount=int(data["amount"]),
            currency=str(data["currency"]).lower(),
            metadata={str(key): str(value) for key, value in (data.get("metadata") or {}).items()},
            error_message=str(error.get("message") or ""),
            client_secret=str(data.get("client_secret") or ""),
        )


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    object: dict[str, Any]


def to_minor_units(amount: Decimal, currency: str) -> int:
    """``Decimal("20.00")`` in usd is 2000 cents."""
    exponent = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
    return int((amount * 10**exponent).to_integral_value())


def from_minor_units(amount: int, currency: str) -> Decimal:
    exponent = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
    return (Decimal(amount) / 10**exponent).quantize(Decimal("0.01"))


def client() -> stripe.StripeClient:
    config = settings.STRIPE
    return _client(config["SECRET_KEY"], config["API_BASE"], config["TIMEOUT_SECONDS"], config["MAX_NETWORK_RETRIES"])


@lru_cache(maxsize=4)
def _client(secret_key: str, api_base: str, timeout: float, max_network_retries: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=max_network_retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def _call(operation: str, func, *args, **kwargs):
    """Run one SDK call, translating its errors into ours."""
    try:
        return func(*args, **kwargs)
    except stripe.CardError as error:
        raise CardDeclined(error.user_message or CardDeclined.default_message) from error
    except stripe.InvalidRequestError as error:
        raise InvalidRequest(
            error.user_message or str(error), http_status=error.http_status, code=error.code
        ) from error
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        logger.warning("Stripe unavailable during %s: %s", operation, error)
        raise ProviderUnavailable() from error
    except stripe.StripeError as error:  # authentication, permission, idempotency: our configuration
        logger.error("Stripe refused %s: %s", operation, error)
        raise ProviderUnavailable() from error


def customer_for_token(*, token: str, email: str, idempotency_key: str) -> tuple[str, str]:
    """Save a Stripe.js card token on a new customer; return ``(customer id, card id)``.

    localstripe and Stripe alike accept a token as a customer's source, and the
    card it becomes can then pay a PaymentIntent.
    """
    params: dict[str, Any] = {"source": token}
    if email:
        params["email"] = email
    customer = _call(
        "customer creation",
        client().v1.customers.create,
        params=params,
        options={"idempotency_key": idempotency_key},
    )
    return customer.id, customer.default_source


def create_intent(
    *,
    amount: int,
    currency: str,
    payment_method: str,
    customer: str | None,
    metadata: dict[str, str],
    idempotency_key: str,
) -> Intent:
    """A PaymentIntent with its payment method, not yet confirmed: nothing is charged yet."""
    params: dict[str, Any] = {
        "amount": amount,
        "currency": currency,
        "payment_method": payment_method,
        "metadata": metadata,
    }
    if customer:
        params["customer"] = customer
    intent = _call(
        "PaymentIntent creation",
        client().v1.payment_intents.create,
        params=params,
        options={"idempotency_key": idempotency_key},
    )
    return Intent.from_stripe(intent)


def confirm_intent(intent_id: str, *, idempotency_key: str) -> Intent:
    """Charge the card. A decline raises :class:`CardDeclined` with Stripe's message."""
    intent = _call(
        "PaymentIntent confirmation",
        client().v1.payment_intents.confirm,
        intent_id,
        options={"idempotency_key": idempotency_key},
    )
    return Intent.from_stripe(intent)


def retrieve_intent(intent_id: str) -> Intent:
    return Intent.from_stripe(_call("PaymentIntent retrieval", client().v1.payment_intents.retrieve, intent_id))


def cancel_intent(intent_id: str) -> Intent:
    """Make sure an abandoned PaymentIntent can never be charged."""
    return Intent.from_stripe(_call("PaymentIntent cancellation", client().v1.payment_intents.cancel, intent_id))


def cancel_intent_quietly(intent_id: str) -> None:
    """Best effort, for intents that cannot be charged anyway (declined, or never confirmed)."""
    try:
        cancel_intent(intent_id)
    except (InvalidRequest, ProviderUnavailable, CardDeclined) as error:
        logger.info("Could not cancel PaymentIntent %s: %s", intent_id, error)


def refund_intent(intent_id: str, *, idempotency_key: str) -> str:
    """Refund a PaymentIntent in full; return the refund's id.

    An existing refund is reused, so a refund retried after a crash (or on a Stripe
    double that ignores idempotency keys) is never paid out twice.
    """
    existing = _call("refund lookup", client().v1.refunds.list, params={"payment_intent": intent_id, "limit": 10})
    for refund in existing.data:
        if refund.status in ("succeeded", "pending"):
            return refund.id
    refund = _call(
        "refund",
        client().v1.refunds.create,
        params={"payment_intent": intent_id},
        options={"idempotency_key": idempotency_key},
    )
    return refund.id


def parse_webhook(payload: bytes, signature: str | None) -> WebhookEvent:
    """Verify the ``Stripe-Signature`` header against our webhook secret, then parse.

    A correctly signed body is still checked for the shape of an event (an object
    with ``id``, ``type`` and ``data.object``): anything else is :class:`BadWebhook`,
    never an error deeper down.
    """
    if not signature:
        raise BadWebhook("Missing Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, settings.STRIPE["WEBHOOK_SECRET"], stripe.Webhook.DEFAULT_TOLERANCE
        )
    except stripe.SignatureVerificationError as error:
        raise BadWebhook("Invalid Stripe signature") from error
    except ValueError as error:  # a body that is not UTF-8
        raise BadWebhook(INVALID_WEBHOOK_PAYLOAD) from error
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise BadWebhook(INVALID_WEBHOOK_PAYLOAD) from error
    data = body.get("data") if isinstance(body, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if not (isinstance(obj, dict) and _is_text(body.get("id")) and _is_text(body.get("type"))):
        raise BadWebhook(INVALID_WEBHOOK_PAYLOAD)
    return WebhookEvent(id=body["id"], type=body["type"], object=obj)


def webhook_intent(obj: dict[str, Any]) -> Intent:
    """The PaymentIntent of a webhook event, every field we act on checked.

    Raises :class:`BadWebhook` for an object we cannot record: no id, no status, an
    amount that is not a whole number of minor units our ``amount`` column can hold,
    a currency that is not a three-letter code, or metadata that is not an object.
    """
    intent_id, status_, amount, currency = (obj.get(key) for key in ("id", "status", "amount", "currency"))
    metadata = obj.get("metadata") or {}
    if not (
        _is_text(intent_id, max_length=255)
        and _is_text(status_)
        and isinstance(currency, str)
        and len(currency) == 3
        and currency.isascii()
        and currency.isalpha()
        and isinstance(amount, int)
        and not isinstance(amount, bool)
        and amount >= 0
        and isinstance(metadata, dict)
    ):
        raise BadWebhook(INVALID_PAYMENT_INTENT)
    currency = currency.lower()
    if from_minor_units(amount, currency) >= MAX_AMOUNT:
        raise BadWebhook(INVALID_PAYMENT_INTENT)
    return Intent(
        id=intent_id,
        status=status_,
        amount=amount,
        currency=currency,
        metadata={str(key): str(value) for key, value in metadata.items()},
    )


def _is_text(value: Any, *, max_length: int | None = None) -> bool:
    return isinstance(value, str) and bool(value) and (max_length is None or len(value) <= max_length)
