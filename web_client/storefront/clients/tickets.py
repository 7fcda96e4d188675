"""The tickets service: ``/api/tickets...``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
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
    starts_at: dt.datetime | None = None
    venue: str = ""
    city: str = ""
    category: str = "other"
    description: str = ""

    @property
    def where(self) -> str:
        return ", ".join(part for part in (self.venue, self.city) if part)

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
            starts_at=dt.datetime.fromisoformat(data["starts_at"]) if data.get("starts_at") else None,
            venue=data.get("venue") or "",
            city=data.get("city") or "",
            category=data.get("category") or "other",
            description=data.get("description") or "",
        )


@dataclass(frozen=True)
class CatalogPage(Page[Ticket]):
    """A page of the public list, with the counts per category and city of every match."""

    facets: dict[str, dict[str, int]] = field(default_factory=dict)


class TicketsClient(ServiceClient):
    service = "tickets"

    def list_available(self, *, filters: dict[str, str] | None = None, page: int = 1, size: int = 12) -> CatalogPage:
        """Tickets on sale matching ``filters`` (the API's ``q``, ``category``, ``city``, ...), public."""
        params: dict[str, Any] = {**page_params(page, size), **{k: v for k, v in (filters or {}).items() if v}}
        body = self.request("GET", "/api/tickets", params=params).json()
        base = Page.from_response(body, number=page, size=size, parse=Ticket.from_api)
        return CatalogPage(results=base.results, count=base.count, number=page, size=size,
                           facets=body.get("facets") or {})

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

    def create(self, *, title: str, price: Decimal, **details: Any) -> Ticket:
        """``details``: ``starts_at`` (aware datetime or None), ``venue``, ``city``, ``category``, ``description``."""
        body = {"title": title, "price": money_str(price), **_details(details)}
        response = self.request("POST", "/api/tickets", json=body, authenticated=True)
        return Ticket.from_api(response.json())

    def update(self, ticket_id: str, *, title: str, price: Decimal, **details: Any) -> Ticket:
        """Last write wins: the service ignores versions sent by clients."""
        body = {"title": title, "price": money_str(price), **_details(details)}
        response = self.request("PUT", f"/api/tickets/{ticket_id}", json=body, authenticated=True)
        return Ticket.from_api(response.json())

    def unlist(self, ticket_id: str) -> None:
        self.request("DELETE", f"/api/tickets/{ticket_id}", authenticated=True)


def _details(details: dict[str, Any]) -> dict[str, Any]:
    body = dict(details)
    if "starts_at" in body:
        body["starts_at"] = body["starts_at"].isoformat() if body["starts_at"] else None
    return body
