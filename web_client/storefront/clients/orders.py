"""The orders service: ``/api/orders...``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from storefront.clients.base import (
    Page,
    ServiceClient,
    idempotency_key,
    money_str,
    page_params,
    retry_while_not_found,
)

PENDING = ("created", "awaiting_payment")


@dataclass(frozen=True)
class OrderTicket:
    id: str
    title: str
    price: Decimal


@dataclass(frozen=True)
class Order:
    id: str
    status: str  # created, awaiting_payment, complete or cancelled
    expires_at: datetime
    user_id: str
    version: int
    ticket: OrderTicket
    # Why a cancelled order was cancelled: expired, by_buyer, price_changed, operator; None
    # when it was not (or the orders service did not say).
    cancel_reason: str | None = None
    # Every ticket of the order (a cart holds several) and what they cost together.
    tickets: tuple[OrderTicket, ...] = ()
    total: Decimal = Decimal("0")

    @property
    def is_open_cart(self) -> bool:
        """Tickets can still be added to it: unpaid, in its window."""
        return self.status == "created" and self.seconds_left > 0

    @property
    def seconds_left(self) -> int:
        """Whole seconds until the reservation lapses; 0 once it has (or the order is over)."""
        if self.status not in PENDING:
            return 0
        return max(0, int((self.expires_at - timezone.now()).total_seconds()))

    @property
    def is_pending(self) -> bool:
        """Waiting for payment, and still in time for it."""
        return self.seconds_left > 0

    @property
    def has_expired(self) -> bool:
        """Past ``expires_at`` but not cancelled yet: the expiration event is on its way."""
        return self.status in PENDING and self.seconds_left == 0

    @property
    def can_cancel(self) -> bool:
        return self.status in PENDING

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Order:
        expires_at = parse_datetime(str(data["expires_at"]))
        if expires_at is None:
            raise ValueError(f"bad expires_at {data['expires_at']!r}")
        ticket = data["ticket"]
        tickets = tuple(
            OrderTicket(id=str(t["id"]), title=t.get("title", ""), price=Decimal(str(t["price"])))
            for t in data.get("tickets") or [ticket]
        )
        return cls(
            id=str(data["id"]),
            status=data["status"],
            expires_at=expires_at,
            user_id=str(data["user_id"]),
            version=int(data.get("version", 0)),
            ticket=OrderTicket(
                id=str(ticket["id"]), title=ticket.get("title", ""), price=Decimal(str(ticket["price"]))
            ),
            cancel_reason=data.get("cancel_reason") or None,
            tickets=tickets,
            total=Decimal(str(data["total"])) if data.get("total") is not None else sum(t.price for t in tickets),
        )


class OrdersClient(ServiceClient):
    service = "orders"

    def create(self, *, ticket_id: str, expected_total: Decimal) -> Order:
        """Reserve a ticket at the total the buyer was shown: if it is not what the order would
        cost, the orders service answers 409 and makes nothing (an :class:`ApiError`).

        A ticket listed a moment ago may not have reached the orders service yet.
        """
        body = {"ticket_id": ticket_id, "expected_total": money_str(expected_total)}
        once = idempotency_key()  # every retry of this reservation is the same request
        response = retry_while_not_found(
            lambda: self.request("POST", "/api/orders", json=body, authenticated=True, headers=once)
        )
        return Order.from_api(response.json())

    def create_cart(self, *, ticket_id: str) -> Order:
        """A new order of one ticket that more can join (the cart), at the ticket's price now."""
        once = idempotency_key()
        response = retry_while_not_found(
            lambda: self.request("POST", "/api/orders", json={"ticket_ids": [ticket_id]}, authenticated=True,
                                 headers=once)
        )
        return Order.from_api(response.json())

    def add_ticket(self, order_id: str, *, ticket_id: str) -> Order:
        """Reserve one more ticket into the open order, until the order's own expiry."""
        response = retry_while_not_found(
            lambda: self.request("POST", f"/api/orders/{order_id}/tickets", json={"ticket_id": ticket_id},
                                 authenticated=True)
        )
        return Order.from_api(response.json())

    def remove_ticket(self, order_id: str, *, ticket_id: str) -> Order:
        """Free one ticket of the open order; the last one cancels the order."""
        response = self.request("DELETE", f"/api/orders/{order_id}/tickets/{ticket_id}", authenticated=True)
        return Order.from_api(response.json())

    def list_mine(self, *, page: int = 1, size: int = 20) -> Page[Order]:
        response = self.request("GET", "/api/orders", params=page_params(page, size), authenticated=True)
        return Page.from_response(response.json(), number=page, size=size, parse=Order.from_api)

    def get(self, order_id: str) -> Order:
        return Order.from_api(self.request("GET", f"/api/orders/{order_id}", authenticated=True).json())

    def cancel(self, order_id: str) -> None:
        self.request("DELETE", f"/api/orders/{order_id}", authenticated=True)
