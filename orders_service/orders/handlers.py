"""Events the orders service consumes (docs/events.md).

The consumer runner applies each event in one transaction with its inbox row, so a
redelivered event never reaches these functions twice; they are also safe on their
own if it did (every one is a no-op the second time).
"""

from __future__ import annotations

from orders import services
from ticketing_shared.errors import NotFound
from ticketing_shared.events.registry import PoisonMessage, handles
from ticketing_shared.events.schemas import (
    ExpirationComplete,
    PaymentCreated,
    PaymentRefunded,
    TicketCreated,
    TicketUpdated,
)


def _details(ticket: TicketCreated) -> dict:
    """The release-2 fields the event carries; older events carry none, and what they do not say
    stays as the replica had it."""
    return {name: getattr(ticket, name) for name in services.REPLICA_DETAILS if name in ticket.model_fields_set}


@handles(TicketCreated)
def ticket_created(ticket: TicketCreated) -> None:
    services.ticket_replica_create(ticket_id=ticket.id, title=ticket.title, price=ticket.price,
                                   user_id=ticket.user_id, version=ticket.version, **_details(ticket))


@handles(TicketUpdated)
def ticket_updated(ticket: TicketUpdated) -> None:
    services.ticket_replica_update(ticket_id=ticket.id, title=ticket.title, price=ticket.price,
                                   version=ticket.version, **_details(ticket))


@handles(ExpirationComplete)
def expiration_complete(expiration: ExpirationComplete) -> None:
    try:
        services.order_expire(order_id=expiration.order_id)
    except NotFound:
        # Orders are born here, before their expiration is even scheduled: an unknown
        # id can never become applicable.
        raise PoisonMessage(f"expiration.complete for unknown order {expiration.order_id}") from None


@handles(PaymentCreated)
def payment_created(payment: PaymentCreated) -> None:
    """Completes the order only for a payment of exactly its price; anything else can never
    apply and is dead-lettered for an operator to look at (the order expires unpaid)."""
    try:
        services.order_complete(order_id=payment.order_id, amount=payment.amount)
    except NotFound:
        raise PoisonMessage(f"payment.created for unknown order {payment.order_id}") from None
    except services.PaymentMismatch as error:
        raise PoisonMessage(f"payment.created {payment.id} {error.message}") from None


@handles(PaymentRefunded)
def payment_refunded(payment: PaymentRefunded) -> None:
    """An operator's refund cancels the order; the refund of a cancelled order changes nothing."""
    try:
        services.order_payment_refunded(order_id=payment.order_id)
    except NotFound:
        raise PoisonMessage(f"payment.refunded for unknown order {payment.order_id}") from None
