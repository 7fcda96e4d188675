"""Owned tickets and gifts: GET /api/tickets/owned, POST /{id}/gift, claim and revoke."""

import email
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from tests.factories import TicketFactory
from ticketing_shared.errors import NotFound
from ticketing_shared.mail import human_datetime
from tickets import gifts
from tickets.gifts import GIFT_NOT_FOUND, Gift, GiftEmail
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

OWNER = str(uuid.uuid4())
FRIEND = str(uuid.uuid4())
STRANGER = str(uuid.uuid4())


@pytest.fixture
def owner(authed_client):
    return authed_client(user_id=OWNER, email="owner@example.com")


@pytest.fixture
def friend(authed_client):
    return authed_client(user_id=FRIEND, email="friend@example.com")


@pytest.fixture
def stranger(authed_client):
    return authed_client(user_id=STRANGER, email="stranger@example.com")


@pytest.fixture
def bought():
    """A ticket OWNER bought (sold to their order)."""
    return TicketFactory(order_id=uuid.uuid4(), sold_at=timezone.now(), owner_id=OWNER)


def gift(client, ticket):
    return client.post(f"/api/tickets/{ticket.id}/gift")


def claim(client, code):
    return client.post(f"/api/tickets/gifts/{code}/claim")


def test_owned_lists_the_tickets_the_caller_owns(owner, friend, bought, api_client):
    TicketFactory(user_id=OWNER)  # one they sell is not owned

    body = owner.get("/api/tickets/owned").json()

    assert [t["id"] for t in body["results"]] == [str(bought.id)]
    assert body["results"][0]["owner_id"] == OWNER and body["results"][0]["gift"] is None
    assert friend.get("/api/tickets/owned").json()["count"] == 0
    assert api_client.get("/api/tickets/owned").status_code == 401


def test_the_owner_makes_a_gift_valid_a_week(owner, bought, outbox):
    response = gift(owner, bought)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"code", "expires_at"} and len(body["code"]) >= 20
    expires = Gift.objects.get().expires_at
    assert timedelta(days=7) - timedelta(minutes=1) < expires - timezone.now() <= timedelta(days=7)
    assert [e["type"] for e in outbox()] == ["gift.created"]
    assert "code" not in outbox()[0]["data"]
    assert owner.get("/api/tickets/owned").json()["results"][0]["gift"]["code"] == body["code"]


def test_only_the_owner_can_gift(stranger, bought, owner):
    TicketFactory(user_id=STRANGER)
    assert gift(stranger, bought).status_code == 403
    selling = TicketFactory(user_id=OWNER)
    assert gift(owner, selling).status_code == 403  # a seller does not own what they sell
    assert owner.post(f"/api/tickets/{uuid.uuid4()}/gift").status_code == 404
    assert not Gift.objects.exists()


def test_claiming_moves_the_ticket_to_the_claimer(owner, friend, bought, outbox):
    code = gift(owner, bought).json()["code"]

    response = claim(friend, code)

    assert response.status_code == 200
    assert response.json()["id"] == str(bought.id) and response.json()["owner_id"] == FRIEND
    ticket = Ticket.objects.get(pk=bought.pk)
    assert str(ticket.owner_id) == FRIEND and ticket.version == bought.version + 1
    assert [e["type"] for e in outbox()] == ["gift.created", "ticket.updated", "gift.claimed"]
    assert outbox("ticket.updated")[0]["data"]["owner_id"] == FRIEND
    assert [t["id"] for t in friend.get("/api/tickets/owned").json()["results"]] == [str(bought.id)]
    assert owner.get("/api/tickets/owned").json()["count"] == 0
    # a claimed code is spent, and only the new owner may gift it now
    assert claim(friend, code).status_code == 404
    assert gift(owner, bought).status_code == 403
    again = gift(friend, bought)
    assert again.status_code == 201
    assert claim(owner, again.json()["code"]).status_code == 200
    assert str(Ticket.objects.get(pk=bought.pk).owner_id) == OWNER


def test_claiming_ones_own_gift_is_refused(owner, bought):
    code = gift(owner, bought).json()["code"]
    response = claim(owner, code)
    assert response.status_code == 400
    assert str(Ticket.objects.get(pk=bought.pk).owner_id) == OWNER


def test_unknown_expired_and_revoked_codes_are_404(owner, friend, bought, api_client):
    assert claim(friend, "nope").status_code == 404
    code = gift(owner, bought).json()["code"]
    assert claim(api_client, code).status_code == 401
    Gift.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert claim(friend, code).status_code == 404
    code = gift(owner, bought).json()["code"]
    assert owner.delete(f"/api/tickets/gifts/{code}").status_code == 204
    assert claim(friend, code).status_code == 404
    assert str(Ticket.objects.get(pk=bought.pk).owner_id) == OWNER


@pytest.mark.parametrize("code", ["%00", "a%00b", "x" * 65, "%C3%A9t%C3%A9", "a.b"])
def test_a_code_that_cannot_be_one_is_unknown(owner, friend, bought, code):
    """Not a 500 from the database (it refuses NUL in text): a 404 in the error shape."""
    gift(owner, bought)
    for response in (claim(friend, code), owner.delete(f"/api/tickets/gifts/{code}")):
        assert response.status_code == 404
        assert response.json() == {"errors": [{"message": GIFT_NOT_FOUND}]}
    assert Gift.objects.get().status == Gift.Status.PENDING


def test_revoking(owner, friend, stranger, bought, outbox):
    code = gift(owner, bought).json()["code"]
    assert stranger.delete(f"/api/tickets/gifts/{code}").status_code == 403
    assert owner.delete("/api/tickets/gifts/unknown").status_code == 404

    assert owner.delete(f"/api/tickets/gifts/{code}").status_code == 204
    assert owner.delete(f"/api/tickets/gifts/{code}").status_code == 204  # again: nothing more
    assert [e["type"] for e in outbox()] == ["gift.created", "gift.revoked"]

    claimed = gift(owner, bought).json()["code"]
    claim(friend, claimed)
    assert owner.delete(f"/api/tickets/gifts/{claimed}").status_code == 400


def test_a_new_gift_replaces_the_unclaimed_one(owner, friend, bought):
    first = gift(owner, bought).json()["code"]
    second = gift(owner, bought).json()["code"]

    assert claim(friend, first).status_code == 404
    assert claim(friend, second).status_code == 200


def test_a_gift_whose_giver_lost_the_ticket_cannot_be_claimed(owner, friend, bought):
    """An operator refunded the sale meanwhile: the ticket is for sale again, nobody's."""
    code = gift(owner, bought).json()["code"]
    Ticket.objects.filter(pk=bought.pk).update(owner_id=None, order_id=None, sold_at=None)

    assert claim(friend, code).status_code == 404


def test_operators_see_gifts_without_their_code(client, owner, bought):
    from django.contrib.auth import get_user_model

    from ticketing_shared.testing.helpers import sign_in_operator

    user = get_user_model().objects.create(username="operator@example.com", is_staff=True, is_superuser=True)
    sign_in_operator(client, user)
    admin_client = client
    code = gift(owner, bought).json()["code"]
    gift_row = Gift.objects.get()

    listing = admin_client.get("/admin/tickets/gift/")
    page = admin_client.get(f"/admin/tickets/gift/{gift_row.pk}/change/")

    assert listing.status_code == page.status_code == 200
    assert code not in page.content.decode() and str(bought.id) in page.content.decode()


# -- the recipient's email ------------------------------------------------------------------


@pytest.fixture
def hamlet():
    """A ticket OWNER bought, for an event with a date and a place."""
    return TicketFactory(title="Hamlet", venue="The Globe", city="London", starts_at=timezone.now() + timedelta(days=3),
                         order_id=uuid.uuid4(), sold_at=timezone.now(), owner_id=OWNER)


def _parts(index: int = 0) -> dict[str, str]:
    message = email.message_from_bytes(mail.outbox[index].message().as_bytes())
    return {part.get_content_type(): part.get_payload(decode=True).decode() for part in message.walk()
            if not part.is_multipart()}


def test_claiming_emails_the_recipient_the_ticket_once(owner, friend, hamlet, django_capture_on_commit_callbacks):
    code = gift(owner, hamlet).json()["code"]

    with django_capture_on_commit_callbacks():
        assert claim(friend, code).status_code == 200
    assert GiftEmail.objects.get().to == "friend@example.com"
    assert gifts.send_gift_emails() == 1
    assert gifts.send_gift_emails() == 0  # the task run again sends nothing more

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["friend@example.com"]
    assert mail.outbox[0].subject == "You received a ticket: Hamlet"
    parts = _parts()
    assert set(parts) == {"text/plain", "text/html"}
    for part in parts.values():
        assert "Hamlet" in part and "The Globe, London" in part and human_datetime(hamlet.starts_at) in part
        assert "$" not in part  # a present: no price
        assert "/tickets/mine" in part
    assert GiftEmail.objects.get().sent_at is not None


def test_a_claim_applied_twice_emails_once(owner, friend, hamlet):
    code = gift(owner, hamlet).json()["code"]

    gifts.gift_claim(code=code, user_id=FRIEND, email="friend@example.com")
    with pytest.raises(NotFound):
        gifts.gift_claim(code=code, user_id=FRIEND, email="friend@example.com")
    assert claim(friend, code).status_code == 404

    assert GiftEmail.objects.count() == 1
    assert gifts.send_gift_emails() == 1
    assert gifts.send_gift_emails() == 0
    assert len(mail.outbox) == 1


def test_a_refused_claim_emails_nobody(owner, hamlet):
    code = gift(owner, hamlet).json()["code"]

    assert claim(owner, code).status_code == 400

    assert not GiftEmail.objects.exists()
    assert gifts.send_gift_emails() == 0 and mail.outbox == []


def test_a_token_without_an_address_still_claims(authed_client, owner, hamlet):
    code = gift(owner, hamlet).json()["code"]

    assert claim(authed_client(user_id=FRIEND, email=""), code).status_code == 200

    assert not GiftEmail.objects.exists()


def test_a_failing_mail_server_is_retried_later(owner, friend, hamlet, settings):
    claim(friend, gift(owner, hamlet).json()["code"])
    settings.EMAIL_BACKEND = "tests.test_gifts.BrokenBackend"

    assert gifts.send_gift_emails() == 0
    row = GiftEmail.objects.get()
    assert row.sent_at is None and row.attempts == 1 and "refused" in row.last_error

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert gifts.send_gift_emails() == 1
    assert len(mail.outbox) == 1 and GiftEmail.objects.get().attempts == 2


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("refused")
