"""The payments service: ``/api/payments``."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from storefront.clients.base import ServiceClient, idempotency_key, money_str, retry_while_not_found


@dataclass(frozen=True)
class Payment:
    id: str
    order_id: str
    stripe_id: str
    amount: Decimal
    status: str  # succeeded, pending, ... or requires_action (3-D Secure in the browser)
    client_secret: str = ""

    @property
    def needs_authentication(self) -> bool:
        return self.status == "requires_action" and bool(self.client_secret)


class PaymentsClient(ServiceClient):
    service = "payments"

    def pay(self, *, order_id: str, payment_method: str, expected_total: Decimal | None = None) -> Payment:
        """Charge the order with a Stripe.js card token (``tok_...``) or PaymentMethod id.

        A 402 carries Stripe's decline message. An order made a moment ago may not
        have reached the payments service yet, so its 404 is retried for a moment;
        the order id doubles as Stripe's idempotency key, so a retry never charges twice.
        ``expected_total`` (the total the page showed) makes a changed cart a 409, not a charge.
        """
        body = {"order_id": order_id, "payment_method": payment_method}
        if expected_total is not None:
            body["expected_total"] = money_str(expected_total)
        once = idempotency_key()  # every retry of this payment is the same request: never a second charge
        response = retry_while_not_found(
            lambda: self.request(
                "POST",
                "/api/payments",
                json=body,
                authenticated=True,
                headers=once,
            )
        )
        return _payment(response.json())

    def confirm(self, payment_id: str) -> Payment:
        """After Stripe.js authenticated the card in the browser (3-D Secure): settle it."""
        return _payment(self.request("POST", f"/api/payments/{payment_id}/confirm", authenticated=True).json())


def _payment(body: dict) -> Payment:
    return Payment(
        id=str(body["id"]),
        order_id=str(body["order_id"]),
        stripe_id=body.get("stripe_id", ""),
        amount=Decimal(str(body["amount"])),
        status=body.get("status", ""),
        client_secret=body.get("client_secret") or "",
    )
