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
    summary = "A buyer reserved a ticket until expires_at."

    id: uuid.UUID = Field(description="The order.")
    status: OrderStatus
    user_id: uuid.UUID = Field(description="The buyer.")
    expires_at: AwareDatetime
    version: Version
    ticket: TicketPrice


class OrderCompleted(EventData):
    topic = "order.completed"
    source = "orders"
    consumers = ('tickets', 'payments', 'expiration')
    aggregate_type = "order"
    summary = "An order was paid: its ticket is sold."

    id: uuid.UUID = Field(description="The order.")
    version: Version
    ticket: TicketId


# order.completed's data plus, optionally, why: only a cancelled order has a reason.
class OrderCancelled(OrderCompleted):
    topic = "order.cancelled"
    summary = (
        "An order ended: unpaid (expired or cancelled), its ticket is free again and any payment is refunded; "
        "or its payment was refunded by an operator (reason operator), and even its sold ticket is free again."
    )

    # A plain string, not an enum: a reason added later must not make older readers
    # refuse the event (it would be poison to them, and the ticket would never be freed).
    reason: str | None = Field(
        default=None,
        description=(
            "Why: expired, by_buyer, price_changed or operator (an operator cancelled it, or refunded its "
            "payment); more may come; absent in older events."
        ),
    )


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
    for schema in (TicketCreated, TicketUpdated, OrderCreated, OrderCancelled, OrderCompleted, ExpirationComplete,
                   PaymentCreated, PaymentRefunded)
}


def schema_for(event_type: str) -> type[EventData] | None:
    return SCHEMAS.get(event_type)


__all__ = ["SCHEMAS", "EventData", "Money", "schema_for", *(s.__name__ for s in SCHEMAS.values())]
