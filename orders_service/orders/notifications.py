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

import logging
from decimal import Decimal

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.models import BuyerContact, Notification, Order, Ticket
from ticketing_shared.mail import Mail, TicketLine, send_mail

logger = logging.getLogger(__name__)

SEND_TASK = "orders.send_notifications"
MAX_ATTEMPTS = 20
BATCH = 50


def remember_buyer(user) -> None:
    """Keep the address of the signed-in buyer (their token's ``email`` claim) for their emails."""
    email = getattr(user, "email", "")
    if email:
        BuyerContact.objects.update_or_create(user_id=user.id, defaults={"email": email})


def order_paid(order: Order) -> None:
    _owe(order, Notification.Kind.PAID)


def order_expired(order: Order) -> None:
    _owe(order, Notification.Kind.EXPIRED)


def _owe(order: Order, kind: Notification.Kind) -> None:
    _, created = Notification.objects.get_or_create(order=order, kind=kind)
    if created:
        transaction.on_commit(_nudge)


def _nudge() -> None:
    """Ask the worker to send now; if the broker is away, beat's next run sends it."""
    try:
        send_notifications.delay()
    except Exception:
        logger.warning("Could not queue the notification task; the periodic run will send it", exc_info=True)


@shared_task(name=SEND_TASK, ignore_result=True)
def send_notifications() -> int:
    """Send the unsent emails, each under a row lock (two workers never send one twice);
    returns how many were sent."""
    sent = 0
    while True:
        with transaction.atomic():
            batch = list(
                Notification.objects.select_for_update(skip_locked=True)
                .filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
                .select_related("order")
                .order_by("created_at")[:BATCH]
            )
            for notification in batch:
                sent += _send(notification)
        if len(batch) < BATCH:
            return sent


def _send(notification: Notification) -> int:
    contact = BuyerContact.objects.filter(user_id=notification.order.user_id).first()
    notification.attempts += 1
    if contact is None:  # an order from before addresses were kept: nobody to write to
        notification.last_error = "No email address known for this buyer"
        notification.sent_at = timezone.now()
        notification.save(update_fields=["attempts", "last_error", "sent_at"])
        return 0
    try:
        send_mail(build_mail(notification, to=contact.email))
    except Exception as error:
        logger.warning("Email %s for order %s failed: %s", notification.kind, notification.order_id, error)
        notification.last_error = str(error)[:1000]
        notification.save(update_fields=["attempts", "last_error"])
        return 0
    notification.sent_at = timezone.now()
    notification.last_error = ""
    notification.save(update_fields=["attempts", "last_error", "sent_at"])
    return 1


def _tickets_of(order: Order) -> list[Ticket]:
    """The order's tickets: every one of a cart order, else its one ticket."""
    many = getattr(order, "tickets", None)
    if many is not None and hasattr(many, "all"):
        return list(many.all())
    return [order.ticket]


def _total_of(order: Order) -> Decimal:
    return getattr(order, "total", None) or order.price


def build_mail(notification: Notification, *, to: str) -> Mail:
    order = notification.order
    tickets = _tickets_of(order)
    lines = tuple(
        TicketLine(title=t.title, price=t.price if len(tickets) > 1 else _total_of(order), starts_at=t.starts_at,
                   venue=t.venue, city=t.city)
        for t in tickets
    )
    link = f"{settings.SITE_URL}/orders/{order.id}"
    if notification.kind == Notification.Kind.PAID:
        return Mail(
            to=to,
            subject=f"Your tickets: {tickets[0].title}" + (f" and {len(tickets) - 1} more" if len(tickets) > 1 else ""),
            paragraphs=("Thank you: your payment went through and these tickets are yours.",),
            tickets=lines,
            total=_total_of(order),
            action_label="See your order",
            action_url=link,
        )
    return Mail(
        to=to,
        subject=f"Your reservation expired: {tickets[0].title}",
        paragraphs=(
            "Your reservation ran out before it was paid, so these tickets are on sale again. "
            "You were not charged.",
            "If you still want them, reserve them again while they are available.",
        ),
        tickets=lines,
        total=_total_of(order),
        action_label="See your order",
        action_url=link,
    )
