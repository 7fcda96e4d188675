"""``manage.py seed_catalog`` (make seed): realistic listings, each with its event unless told not."""

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def test_seed_lists_realistic_tickets_with_their_events(outbox):
    seller = uuid.uuid4()
    out = StringIO()

    call_command("seed_catalog", "--count", "120", "--seller-id", str(seller), "--seed", "7", "--no-progress",
                 stdout=out)

    tickets = list(Ticket.objects.all())
    assert len(tickets) == 120 and "120 tickets listed." in out.getvalue()
    assert {t.user_id for t in tickets} == {seller}
    assert len({t.category for t in tickets}) >= 5 and len({t.city for t in tickets}) >= 6
    assert all(t.starts_at > timezone.now() and t.venue and t.city and t.price > 0 for t in tickets)
    assert len(outbox("ticket.created")) == 120
    assert Ticket.objects.on_sale().count() == 120


def test_seed_without_events_is_a_catalog_only_bulk_load(outbox):
    call_command("seed_catalog", "--count", "1200", "--without-events", "--no-progress", stdout=StringIO())

    assert Ticket.objects.count() == 1200
    assert outbox() == []
