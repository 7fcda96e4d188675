"""Reads used by the API and the admin."""

from __future__ import annotations

import uuid

from django.db.models import Q

from tickets.models import Ticket, TicketQuerySet

SEARCH_MAX_TERMS = 8


def search_terms(text: str | None) -> list[str]:
    """The words of a search box: every one must appear in the title.

    NUL characters are dropped: PostgreSQL text cannot hold them (a query with one fails),
    and no title contains one (the API refuses them).
    """
    return (text or "").replace("\x00", "").split()[:SEARCH_MAX_TERMS]


def ticket_search(queryset: TicketQuerySet, text: str | None) -> TicketQuerySet:
    """Titles containing every word of ``text``, case-insensitively ("conc" finds "Concert").

    ``icontains`` runs in PostgreSQL as ``UPPER(title) LIKE UPPER('%word%')``, served by
    the trigram index on ``UPPER(title)``; ``%`` and ``_`` typed by the user are escaped.
    """
    condition = Q()
    for term in search_terms(text):
        condition &= Q(title__icontains=term)
    return queryset.filter(condition)


def ticket_list_available(*, search: str | None = None) -> TicketQuerySet:
    return ticket_search(Ticket.objects.available(), search).newest_first()


def ticket_list_owned(*, user_id: str, search: str | None = None) -> TicketQuerySet:
    return ticket_search(Ticket.objects.filter(user_id=user_id), search).newest_first()


def ticket_get(*, ticket_id: str) -> Ticket | None:
    """The ticket, or None for an unknown id or one that is not a UUID at all."""
    try:
        pk = uuid.UUID(str(ticket_id))
    except ValueError:
        return None
    return Ticket.objects.filter(pk=pk).first()
