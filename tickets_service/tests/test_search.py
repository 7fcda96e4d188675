"""Title search runs in PostgreSQL, on the trigram index of the migration."""

import uuid

import pytest
from django.db import connection

from tests.factories import TicketFactory
from tickets import selectors
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def test_title_search_is_served_by_the_trigram_index():
    Ticket.objects.bulk_create(
        [Ticket(title=f"Football match {n}", price="10.00", user_id=uuid.uuid4()) for n in range(5000)]
    )
    TicketFactory(title="Concert night")
    with connection.cursor() as cursor:
        # What autovacuum does in a live database: fresh GIN entries wait in a pending list.
        cursor.execute("SELECT gin_clean_pending_list('ticket_title_trgm_idx')")
        cursor.execute("ANALYZE tickets_ticket")

    queryset = selectors.ticket_list_available(search="concert night")

    assert [t.title for t in queryset] == ["Concert night"]
    plan = queryset.explain()
    assert "ticket_title_trgm_idx" in plan, plan


def test_search_uses_at_most_a_bounded_number_of_words():
    assert selectors.search_terms(" ".join(f"w{i}" for i in range(50))) == [f"w{i}" for i in range(8)]
    assert selectors.search_terms(None) == []


def test_search_terms_drop_nul_characters():
    assert selectors.search_terms("\x00") == []
    assert selectors.search_terms("con\x00cert \x00 night") == ["concert", "night"]
