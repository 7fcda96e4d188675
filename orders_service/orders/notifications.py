"""Emails to buyers: an order paid, a reservation expired (docs/configuration.md, "Email").

The order's services call :func:`order_paid` / :func:`order_expired` inside the
transaction that changes the order: a :class:`~orders.models.Notification` row is written
there (so a rolled-back change emails nobody, and a change applied twice emails once),
and a Celery task sends it once the transaction commits. Beat runs the same task every
``NOTIFICATIONS_RETRY_SECONDS`` so that mail that failed (SMTP down, worker restarted)
goes out later. The buyer's address is the one their token carried when they reserved
(:func:`remember_buyer`); the email names each ticket's event, date, venue and price.
"""

from __future__ import annotations

import uuid

from celery import shared_task
from django.conf import settings
from django.db import connection
from django.utils import timezone

from orders.models import BuyerContact, Notification, Order
from ticketing_shared.mail import Mail, TicketLine
from ticketing_shared.mail_queue import send_after_commit, send_owed

SEND_TASK = "orders.send_notifications"


def remember_buyer(user) -> None:
    """Keep the address of the signed-in buyer (their token's ``email`` claim) for their emails.

    One statement (an upsert that writes only a new address) on the path of every
    reservation; ``update_or_create`` took four round trips and two savepoints."""
    email = getattr(user, "email", "")
    if not email:
        return
    table = BuyerContact._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, email, updated_at) VALUES (%s, %s, %s) "
            f"ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, updated_at = EXCLUDED.updated_at "
            f"WHERE {table}.email IS DISTINCT FROM EXCLUDED.email",
            [uuid.UUID(str(user.id)), email, timezone.now()],
        )


def order_paid(order: Order) -> None:
    _owe(order, Notification.Kind.PAID)


def order_expired(order: Order) -> None:
    _owe(order, Notification.Kind.EXPIRED)


def _owe(order: Order, kind: Notification.Kind) -> None:
    _, created = Notification.objects.get_or_create(order=order, kind=kind)
    if created:
        send_after_commit(send_notifications)


@shared_task(name=SEND_TASK, ignore_result=True)
def send_notifications() -> int:
    """Send the unsent emails (:func:`ticketing_shared.mail_queue.send_owed`); returns how
    many were sent."""
    return send_owed(Notification.objects.select_related("order"), _mail_for)


def _mail_for(notification: Notification) -> Mail | None:
    contact = BuyerContact.objects.filter(user_id=notification.order.user_id).first()
    if contact is None:  # an order from before addresses were kept: nobody to write to
        return None
    return build_mail(notification, to=contact.email)


def _lines_of(order: Order) -> tuple[TicketLine, ...]:
    """Every ticket of the order, at the price it was reserved at (what the buyer pays)."""
    return tuple(
        TicketLine(title=item.ticket.title, price=item.price, starts_at=item.ticket.starts_at,
                   venue=item.ticket.venue, city=item.ticket.city)
        for item in order.ticket_items()
    )


def build_mail(notification: Notification, *, to: str) -> Mail:
    order = notification.order
    lines = _lines_of(order)
    first = lines[0].title if lines else order.ticket.title
    more = f" and {len(lines) - 1} more" if len(lines) > 1 else ""
    link = f"{settings.SITE_URL}/orders/{order.id}"
    if notification.kind == Notification.Kind.PAID:
        return Mail(
            to=to,
            subject=f"Your tickets: {first}{more}",
            paragraphs=("Thank you: your payment went through and these tickets are yours.",),
            tickets=lines,
            total=order.price,
            action_label="See your order",
            action_url=link,
        )
    return Mail(
        to=to,
        subject=f"Your reservation expired: {first}{more}",
        paragraphs=(
            "Your reservation ran out before it was paid, so these tickets are on sale again. "
            "You were not charged.",
            "If you still want them, reserve them again while they are available.",
        ),
        tickets=lines,
        total=order.price,
        action_label="See your order",
        action_url=link,
    )
