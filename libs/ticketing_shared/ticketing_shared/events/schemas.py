"""The event contract: one typed schema per topic, owned by the service that publishes it.

Producers build these models and :func:`~ticketing_shared.events.outbox.publish` writes
them; the consumer runner hands handlers registered with ``@handles(Model)`` a
validated instance. Data that fails its schema, or an event of a topic from a service
that does not own it, can never be applied: it is a poison message. Fields added later
are optional, and unknown fields are ignored, so old and new services read each
other's events. ``docs/asyncapi.yaml`` and ``docs/events.md`` are generated from here
(``python -m ticketing_shared.events.asyncapi``).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, ValidationError

from ticketing_shared import money
from ticketing_shared.events.registry import Event, PoisonMessage

Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=money.MAX_DIGITS, decimal_places=money.DECIMAL_PLACES,
          json_schema_extra={"type": "string", "pattern": r"^\d{1,8}\.\d{2}$", "examples": ["10.00"]}),
    PlainSerializer(money.money_str, return_type=str, when_used="always"),
]
"""One money type everywhere: up to 99,999,999.99, two decimals, written as a string."""

Version = Annotated[int, Field(ge=0, strict=True, description="The publisher's version of the aggregate.")]


class EventData(BaseModel):
    """The ``data`` of one event type. Subclasses name their topic and owning service."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    topic: ClassVar[str]
    source: ClassVar[str]
    consumers: ClassVar[tuple[str, ...]] = ()
    aggregate_type: ClassVar[str]
    key_field: ClassVar[str] = "id"
    summary: ClassVar[str]

    def aggregate_id(self) -> uuid.UUID:
        """The message key: one aggregate's events stay in one partition, in order."""
        return getattr(self, self.key_field)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_event(cls, event: Event) -> EventData:
        """Validate ``event``; an impossible one is a :class:`PoisonMessage`."""
        if event.source and event.source != cls.source:
            raise PoisonMessage(f"{event.type} {event.id} comes from {event.source!r}; only {cls.source!r} may send it")
        try:
            return cls.model_validate(event.data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in exc.errors())
            raise PoisonMessage(f"{event.type} {event.id} does not match its schema: {problems}") from None


# -- tickets ----------------------------------------------------------------------------


class TicketCreated(EventData):
    topic = "ticket.created"
    source = "tickets"
    consumers = ('orders',)
    aggregate_type = "ticket"
    summary = "A seller listed a ticket."

    id: uuid.UUID = Field(description="The ticket.")
    title: str
    price: Money
    user_id: uuid.UUID = Field(description="The seller.")
    version: Version
    # The event the ticket is for (release 2): optional, so events of older publishers still
    # apply; absent means "not said" and a reader keeps what it had. ``category`` is a plain
    # string so that a category added later is not poison to older readers.
    starts_at: AwareDatetime | None = Field(default=None, description="When the event starts, if said.")
    venue: str | None = Field(default=None, description="Where (absent in older events).")
    city: str | None = Field(default=None, description="The venue's city (absent in older events).")
    category: str | None = Field(
        default=None, description="concert, sports, theatre, comedy, festival or other; more may come."
    )
    description: str | None = Field(default=None, description="The seller's words (absent in older events).")


class TicketUpdated(TicketCreated):
    topic = "ticket.updated"
    summary = "A ticket changed: edited by its seller, held by an order, freed, sold, or unlisted."

    order_id: uuid.UUID | None = Field(default=None, description="The order holding it, if any.")
    owner_id: uuid.UUID | None = Field(
        default=None, description="Who owns it after a sale or a gift (null while for sale); absent in older events."
    )
    unlisted: bool = Field(
        default=False, description="Its seller took it off sale: it can never be reserved again (absent: false)."
    )


# -- orders -----------------------------------------------------------------------------


class TicketPrice(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID
    price: Money


class TicketId(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID


OrderStatus = Literal["created", "cancelled", "awaiting_payment", "complete"]


class OrderCreated(EventData):
    topic = "order.created"
    source = "orders"
    consumers = ('tickets', 'payments', 'expiration')
    aggregate_type = "order"
    summary = "A buyer reserved one or more tickets until expires_at."

    id: uuid.UUID = Field(description="The order.")
    status: OrderStatus
    user_id: uuid.UUID = Field(description="The buyer.")
    expires_at: AwareDatetime
    version: Version
    ticket: TicketPrice = Field(description="The order's first ticket (all an order held before carts).")
    tickets: list[TicketPrice] | None = Field(
        default=None, description="Every ticket of the order with its price; absent in older events (then: ticket)."
    )
    total: Money | None = Field(
        default=None, description="What the order costs, the sum of its tickets' prices; absent in older events."
    )

    def all_tickets(self) -> list[TicketPrice]:
        """Every ticket of the order: ``tickets``, or the one ``ticket`` of an older event."""
        return list(self.tickets) if self.tickets else [self.ticket]

    def order_total(self) -> Decimal:
        return self.total if self.total is not None else sum((t.price for t in self.all_tickets()), Decimal("0"))


class OrderUpdated(OrderCreated):
    topic = "order.updated"
    consumers = ('tickets', 'payments')
    summary = (
        "The buyer added a ticket to an unpaid order (their cart) or took one out: tickets is the whole set "
        "now, total its new price; a ticket no longer listed is free again."
    )

    tickets: list[TicketPrice] = Field(description="Every ticket the order holds now, with its price.")
    total: Money = Field(description="What the order costs now.")


class OrderCompleted(EventData):
    topic = "order.completed"
    source = "orders"
    consumers = ('tickets', 'payments', 'expiration')
    aggregate_type = "order"
    summary = "An order was paid: its tickets are sold."

    id: uuid.UUID = Field(description="The order.")
    version: Version
    ticket: TicketId = Field(description="The order's first ticket (all an order held before carts).")
    tickets: list[TicketId] | None = Field(
        default=None, description="Every ticket of the order; absent in older events (then: ticket)."
    )
    user_id: uuid.UUID | None = Field(
        default=None, description="The buyer, who owns the tickets once paid; absent in older events."
    )

    def all_tickets(self) -> list[TicketId]:
        """Every ticket of the order: ``tickets``, or the one ``ticket`` of an older event."""
        return list(self.tickets) if self.tickets else [self.ticket]


# order.completed's data plus, optionally, why: only a cancelled order has a reason.
class OrderCancelled(OrderCompleted):
    topic = "order.cancelled"
    summary = (
        "An order ended: unpaid (expired or cancelled), its tickets are free again and any payment is refunded; "
        "or its payment was refunded by an operator (reason operator), and even its sold tickets are free again."
    )

    # A plain string, not an enum: a reason added later must not make older readers
    # refuse the event (it would be poison to them, and the ticket would never be freed).
    reason: str | None = Field(
        default=None,
        description=(
            "Why: expired, by_buyer, price_changed (made from a ticket its seller had just changed: its "
            "price, or took it off sale) or operator (an operator cancelled it, or refunded its payment); "
            "more may come; absent in older events."
        ),
    )


# -- gifts ------------------------------------------------------------------------------


class GiftCreated(EventData):
    topic = "gift.created"
    source = "tickets"
    consumers = ()
    aggregate_type = "gift"
    summary = "A ticket's owner made a gift link; whoever claims it before expires_at gets the ticket."

    id: uuid.UUID = Field(description="The gift (not its secret code).")
    ticket_id: uuid.UUID
    from_user_id: uuid.UUID = Field(description="The giver, the ticket's owner.")
    expires_at: AwareDatetime


class GiftClaimed(EventData):
    topic = "gift.claimed"
    source = "tickets"
    consumers = ()
    aggregate_type = "gift"
    summary = "A gift was claimed: the ticket now belongs to to_user_id (ticket.updated says so too)."

    id: uuid.UUID = Field(description="The gift.")
    ticket_id: uuid.UUID
    from_user_id: uuid.UUID = Field(description="The giver.")
    to_user_id: uuid.UUID = Field(description="The recipient, the ticket's new owner.")


class GiftRevoked(EventData):
    topic = "gift.revoked"
    source = "tickets"
    consumers = ()
    aggregate_type = "gift"
    summary = "The giver took back an unclaimed gift: its link no longer works."

    id: uuid.UUID = Field(description="The gift.")
    ticket_id: uuid.UUID
    from_user_id: uuid.UUID = Field(description="The giver.")


# -- expiration -------------------------------------------------------------------------


class ExpirationComplete(EventData):
    topic = "expiration.complete"
    source = "expiration"
    consumers = ('orders',)
    aggregate_type = "expiration"
    summary = "An order's reservation window closed."

    key_field = "order_id"

    order_id: uuid.UUID


# -- payments ---------------------------------------------------------------------------


class PaymentCreated(EventData):
    topic = "payment.created"
    source = "payments"
    consumers = ('orders',)
    aggregate_type = "payment"
    summary = "A charge for an order succeeded."

    id: uuid.UUID = Field(description="The payment.")
    order_id: uuid.UUID
    stripe_id: str = Field(description="The Stripe PaymentIntent.")
    amount: Money


class PaymentRefunded(PaymentCreated):
    topic = "payment.refunded"
    consumers = ('orders',)
    summary = (
        "A charge was refunded: its order had been cancelled, or an operator refunded it (the orders service "
        "then cancels the order)."
    )


SCHEMAS: dict[str, type[EventData]] = {
    schema.topic: schema
    for schema in (TicketCreated, TicketUpdated, OrderCreated, OrderUpdated, OrderCancelled, OrderCompleted,
                   GiftCreated, GiftClaimed, GiftRevoked, ExpirationComplete, PaymentCreated, PaymentRefunded)
}


def schema_for(event_type: str) -> type[EventData] | None:
    return SCHEMAS.get(event_type)


__all__ = ["SCHEMAS", "EventData", "Money", "schema_for", *(s.__name__ for s in SCHEMAS.values())]
