"""Gifts: the owner of a ticket passes it on with a secret link (``/gifts/<code>``).

A gift is a one-time code for one ticket, valid ``GIFT_VALID_DAYS``. Claiming it moves
``owner_id`` to the claimer (a new ticket version and ``ticket.updated``); the giver can
revoke it while nobody has. Only the ticket's owner at the time can make one, and a
claim checks the giver still owns the ticket, so a ticket given away (or refunded)
cannot be given again from an old link. Making a new gift revokes the ticket's earlier
unclaimed ones, so at most one link works.

The recipient is emailed the ticket they received (:class:`GiftEmail`): the row is
written in the claim's transaction and sent after commit by :func:`send_gift_emails`,
which beat runs again every ``NOTIFICATIONS_RETRY_SECONDS`` for mail that failed. The
address is the one the claimer's token carried.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from ticketing_shared.errors import Forbidden, InvalidState, NotFound
from ticketing_shared.events import publish
from ticketing_shared.events.schemas import GiftClaimed, GiftCreated, GiftRevoked
from ticketing_shared.mail import Mail, TicketLine
from ticketing_shared.mail_queue import send_after_commit, send_owed
from tickets.models import Ticket

GIFT_VALID_DAYS = 7
SEND_TASK = "tickets.send_gift_emails"
TICKET_NOT_FOUND = "Not found."
GIFT_NOT_FOUND = "This gift does not exist, has expired, was revoked or was already claimed."
NOT_THE_OWNER = "Only the ticket's owner can gift it."
OWN_GIFT = "You cannot claim your own gift."
NOT_THE_GIVER = "Only the giver can revoke a gift."
ALREADY_CLAIMED = "This gift was already claimed."


def _new_code() -> str:
    """128 random bits, URL-safe: unguessable, and short enough for a link."""
    return secrets.token_urlsafe(16)


# What a code can look like (``token_urlsafe``'s alphabet): anything else is unknown without
# asking the database, which refuses some characters (NUL) outright.
CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _gift_by_code(code: str, *, lock: bool = False) -> Gift | None:
    if not CODE_PATTERN.fullmatch(code):
        return None
    gifts = Gift.objects.select_for_update() if lock else Gift.objects.only("ticket_id")
    return gifts.filter(code=code).first()


class Gift(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Claimed"
        REVOKED = "revoked", "Revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.CharField(max_length=64, unique=True, default=_new_code, editable=False)
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="gifts")
    from_user_id = models.UUIDField(help_text="The giver: the ticket's owner when the gift was made.")
    to_user_id = models.UUIDField(null=True, blank=True, help_text="Who claimed it.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "tickets"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"], condition=Q(status="pending"), name="gift_one_pending_per_ticket"
            ),
            models.CheckConstraint(
                condition=Q(status="claimed", to_user_id__isnull=False, claimed_at__isnull=False)
                | (~Q(status="claimed") & Q(to_user_id__isnull=True)),
                name="gift_claimed_has_recipient",
            ),
        ]

    def __str__(self) -> str:
        return f"Gift of {self.ticket_id} ({self.status})"

    @property
    def is_claimable(self) -> bool:
        return self.status == self.Status.PENDING and self.expires_at > timezone.now()


class GiftEmail(models.Model):
    """The email owed to whoever claimed a gift, written in the claim's transaction (like the
    outbox) and sent after commit; one per gift, so a claim never emails twice."""

    id = models.BigAutoField(primary_key=True)
    gift = models.OneToOneField(Gift, on_delete=models.CASCADE, related_name="email")
    to = models.EmailField(max_length=254, help_text="The claimer's address, from their token.")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        app_label = "tickets"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at"], name="tickets_gift_email_unsent_idx",
                                condition=Q(sent_at__isnull=True))]

    def __str__(self) -> str:
        return f"Gift email for gift {self.gift_id}"


def _revoke(gift: Gift) -> None:
    gift.status, gift.revoked_at = Gift.Status.REVOKED, timezone.now()
    gift.save(update_fields=["status", "revoked_at"])
    publish(GiftRevoked(id=gift.id, ticket_id=gift.ticket_id, from_user_id=gift.from_user_id))


def _locked_ticket(ticket_id: uuid.UUID) -> Ticket:
    ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
    if ticket is None:
        raise NotFound(TICKET_NOT_FOUND)
    return ticket


def gift_create(*, ticket_id: uuid.UUID, user_id: str | uuid.UUID) -> Gift:
    """The owner makes a gift link for their ticket (valid ``GIFT_VALID_DAYS``); earlier
    unclaimed links of that ticket stop working. The ticket row is locked first, as in a claim."""
    with transaction.atomic():
        ticket = _locked_ticket(ticket_id)
        if ticket.owner_id is None or str(ticket.owner_id) != str(user_id):
            raise Forbidden(NOT_THE_OWNER)
        for earlier in Gift.objects.select_for_update().filter(ticket=ticket, status=Gift.Status.PENDING):
            _revoke(earlier)
        gift = Gift.objects.create(ticket=ticket, from_user_id=ticket.owner_id,
                                   expires_at=timezone.now() + timedelta(days=GIFT_VALID_DAYS))
        publish(GiftCreated(id=gift.id, ticket_id=ticket.id, from_user_id=gift.from_user_id,
                            expires_at=gift.expires_at))
    return gift


def gift_claim(*, code: str, user_id: str | uuid.UUID, email: str = "") -> Ticket:
    """Another signed-in user takes the ticket: it is theirs, no longer the giver's, and
    ``email`` (their token's address, if it has one) is sent the ticket.

    Unknown, expired, revoked or claimed codes, and gifts whose giver no longer owns the
    ticket, are all ``NotFound``; claiming one's own gift is ``InvalidState``.
    """
    found = _gift_by_code(code)
    if found is None:
        raise NotFound(GIFT_NOT_FOUND)
    with transaction.atomic():
        ticket = _locked_ticket(found.ticket_id)  # the ticket first, then the gift: as gift_create
        gift = Gift.objects.select_for_update().get(pk=found.pk)
        if not gift.is_claimable or str(ticket.owner_id) != str(gift.from_user_id):
            raise NotFound(GIFT_NOT_FOUND)
        if str(gift.from_user_id) == str(user_id):
            raise InvalidState(OWN_GIFT)
        now = timezone.now()
        gift.status, gift.to_user_id, gift.claimed_at = Gift.Status.CLAIMED, user_id, now
        gift.save(update_fields=["status", "to_user_id", "claimed_at"])
        ticket.owner_id, ticket.updated_at = user_id, now
        ticket.save_versioned(update_fields=["owner_id", "updated_at"])
        from tickets.services import _publish_updated  # here: tickets.services imports this module's model

        _publish_updated(ticket)
        publish(GiftClaimed(id=gift.id, ticket_id=ticket.id, from_user_id=gift.from_user_id, to_user_id=user_id))
        if email:
            _, created = GiftEmail.objects.get_or_create(gift=gift, defaults={"to": email})
            if created:
                send_after_commit(send_gift_emails)
    ticket.refresh_from_db()
    return ticket


def gift_revoke(*, code: str, user_id: str | uuid.UUID) -> None:
    """The giver takes back an unclaimed gift; revoking it again changes nothing."""
    with transaction.atomic():
        gift = _gift_by_code(code, lock=True)
        if gift is None:
            raise NotFound(GIFT_NOT_FOUND)
        if str(gift.from_user_id) != str(user_id):
            raise Forbidden(NOT_THE_GIVER)
        if gift.status == Gift.Status.CLAIMED:
            raise InvalidState(ALREADY_CLAIMED)
        if gift.status == Gift.Status.PENDING:
            _revoke(gift)


def pending_gifts(tickets) -> dict[uuid.UUID, Gift]:
    """The claimable gift of each of ``tickets``, if any (for the owner's list)."""
    gifts = Gift.objects.filter(ticket__in=tickets, status=Gift.Status.PENDING, expires_at__gt=timezone.now())
    return {gift.ticket_id: gift for gift in gifts}


@shared_task(name=SEND_TASK, ignore_result=True)
def send_gift_emails() -> int:
    """Send the unsent gift emails (:func:`ticketing_shared.mail_queue.send_owed`); returns
    how many were sent."""
    return send_owed(GiftEmail.objects.select_related("gift__ticket"), build_gift_mail)


def build_gift_mail(row: GiftEmail) -> Mail:
    ticket = row.gift.ticket
    return Mail(
        to=row.to,
        subject=f"You received a ticket: {ticket.title}",
        paragraphs=("Someone gave you a ticket, and it is yours now: it is in your tickets.",),
        # No price: it was a present.
        tickets=(TicketLine(title=ticket.title, starts_at=ticket.starts_at, venue=ticket.venue, city=ticket.city),),
        action_label="See your tickets",
        action_url=f"{settings.SITE_URL}/tickets/mine",
    )
