"""The tickets service: ``/api/tickets...``."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from storefront.clients.base import Page, ServiceClient, money_str, page_params


@dataclass(frozen=True)
class Ticket:
    id: str
    title: str
    price: Decimal
    user_id: str
    order_id: str | None
    version: int
    # available, reserved or sold. Only the seller's own list (``/mine``) tells sold from
    # held; everywhere else the API's ticket has ``order_id`` alone: held when it is set.
    status: str
    owner_id: str | None = None
    # The owner's unclaimed gift link of it, if any: (code, expires_at as sent).
    gift_code: str | None = None

    @property
    def is_available(self) -> bool:
        return self.order_id is None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Ticket:
        order_id = str(data["order_id"]) if data.get("order_id") else None
        status = data.get("status") or ("reserved" if order_id else "available")
        return cls(
            id=str(data["id"]),
            title=data["title"],
            price=Decimal(str(data["price"])),
            user_id=str(data["user_id"]),
            order_id=order_id,
            version=int(data.get("version", 0)),
            status=status,
            owner_id=str(data["owner_id"]) if data.get("owner_id") else None,
            gift_code=(data.get("gift") or {}).get("code"),
        )


class TicketsClient(ServiceClient):
    service = "tickets"

    def list_available(self, *, search: str = "", page: int = 1, size: int = 12) -> Page[Ticket]:
        """Free tickets, newest first (public)."""
        params: dict[str, Any] = page_params(page, size)
        if search:
            params["search"] = search
        response = self.request("GET", "/api/tickets", params=params)
        return Page.from_response(response.json(), number=page, size=size, parse=Ticket.from_api)

    def list_mine(self, *, page: int = 1, size: int = 20) -> Page[Ticket]:
        response = self.request("GET", "/api/tickets/mine", params=page_params(page, size), authenticated=True)
        return Page.from_response(response.json(), number=page, size=size, parse=Ticket.from_api)

    def list_owned(self, *, page: int = 1, size: int = 20) -> Page[Ticket]:
        """Tickets the caller owns: bought, or received as a gift."""
        response = self.request("GET", "/api/tickets/owned", params=page_params(page, size), authenticated=True)
        return Page.from_response(response.json(), number=page, size=size, parse=Ticket.from_api)

    def gift(self, ticket_id: str) -> str:
        """Make a gift link for an owned ticket; returns its code."""
        return self.request("POST", f"/api/tickets/{ticket_id}/gift", authenticated=True).json()["code"]

    def claim_gift(self, code: str) -> Ticket:
        return Ticket.from_api(self.request("POST", f"/api/tickets/gifts/{code}/claim", authenticated=True).json())

    def revoke_gift(self, code: str) -> None:
        self.request("DELETE", f"/api/tickets/gifts/{code}", authenticated=True)

    def get(self, ticket_id: str) -> Ticket:
        return Ticket.from_api(self.request("GET", f"/api/tickets/{ticket_id}").json())

    def create(self, *, title: str, price: Decimal) -> Ticket:
        body = {"title": title, "price": money_str(price)}
        response = self.request("POST", "/api/tickets", json=body, authenticated=True)
        return Ticket.from_api(response.json())

    def update(self, ticket_id: str, *, title: str, price: Decimal) -> Ticket:
        """Last write wins: the service ignores versions sent by clients."""
        body = {"title": title, "price": money_str(price)}
        response = self.request("PUT", f"/api/tickets/{ticket_id}", json=body, authenticated=True)
        return Ticket.from_api(response.json())
