"""Reads used by the API and the admin."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import Count, F, Q

from tickets.models import SEARCH_CONFIG, Ticket, TicketQuerySet

SEARCH_MAX_TERMS = 8
SEARCH_MAX_LENGTH = 200

SORTS = ("relevance", "newest", "soonest", "price", "-price")
ORDERINGS = {
    "newest": ("-created_at", "-id"),
    "soonest": (F("starts_at").asc(nulls_last=True), "-created_at", "-id"),
    "price": ("price", "-created_at", "-id"),
    "-price": ("-price", "-created_at", "-id"),
}


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
    A seller's own list (``/mine``) searches this way: they look for a title they typed.
    """
    condition = Q()
    for term in search_terms(text):
        condition &= Q(title__icontains=term)
    return queryset.filter(condition)


@dataclass(frozen=True)
class CatalogFilters:
    """What a buyer asks the public list for (validated by ``CatalogQuerySerializer``)."""

    q: str = ""
    categories: tuple[str, ...] = ()
    city: str = ""
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    starts_after: dt.datetime | None = None
    starts_before: dt.datetime | None = None
    sort: str = ""
    words: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", " ".join(search_words(self.q[:SEARCH_MAX_LENGTH])))

    @property
    def effective_sort(self) -> str:
        """``relevance`` by default with words to rank by, ``newest`` without (relevance of nothing is newest)."""
        sort = self.sort or ("relevance" if self.words else "newest")
        return "newest" if sort == "relevance" and not self.words else sort


def search_words(text: str | None) -> list[str]:
    """The words of a catalog search, at most ``SEARCH_MAX_TERMS``: whitespace-separated, with
    the characters that mean something in a ``tsquery`` made blanks, and words without a
    letter or digit left out (they would match nothing)."""
    words = re.sub(r"[':\\&|!()<>*\x00]", " ", text or "").split()
    return [word for word in words if re.search(r"[^\W_]", word)][:SEARCH_MAX_TERMS]


def _query(words: str) -> SearchQuery:
    """Every word must match the start of a word of the ticket, after English stemming:
    ``concerts`` finds ``concert``, and ``conc`` (a word being typed) finds it too.

    Each word is quoted, so PostgreSQL's own parser splits it as it split the ticket's
    text (``AC/DC`` is one token, ``50%`` is ``50``); :func:`search_words` removed every
    character that could break the quoting, so nothing a buyer types is an error.
    """
    return SearchQuery(" & ".join(f"'{word}':*" for word in words.split(" ")), search_type="raw",
                       config=SEARCH_CONFIG)


def catalog_matching(filters: CatalogFilters) -> TicketQuerySet:
    """Tickets on sale matching every filter, unordered (the list and its facets share it)."""
    queryset = Ticket.objects.on_sale()
    if filters.words:
        queryset = queryset.filter(search_vector=_query(filters.words))
    if filters.categories:
        queryset = queryset.filter(category__in=filters.categories)
    if filters.city:
        queryset = queryset.filter(city=filters.city)
    if filters.price_min is not None:
        queryset = queryset.filter(price__gte=filters.price_min)
    if filters.price_max is not None:
        queryset = queryset.filter(price__lte=filters.price_max)
    if filters.starts_after is not None:
        queryset = queryset.filter(starts_at__gte=filters.starts_after)
    if filters.starts_before is not None:
        queryset = queryset.filter(starts_at__lt=filters.starts_before)
    return queryset


def catalog_list(filters: CatalogFilters) -> TicketQuerySet:
    """The public list: tickets on sale matching ``filters``, in the order asked for."""
    queryset = catalog_matching(filters)
    sort = filters.effective_sort
    if sort == "relevance":
        rank = SearchRank(F("search_vector"), _query(filters.words))
        return queryset.annotate(rank=rank).order_by("-rank", "-created_at", "-id")
    return queryset.order_by(*ORDERINGS[sort])


def catalog_facets(filters: CatalogFilters) -> dict[str, dict[str, int]]:
    """How many matching tickets each category and city has, over every match (not one page),
    most first; tickets without a city are not counted under any."""
    matching = catalog_matching(filters)
    categories = (
        matching.order_by().values_list("category").annotate(n=Count("id")).order_by("-n", "category")
    )
    cities = (
        matching.exclude(city="").order_by().values_list("city").annotate(n=Count("id")).order_by("-n", "city")
    )
    return {"category": dict(categories), "city": dict(cities)}


def ticket_list_available(*, search: str | None = None) -> TicketQuerySet:
    """The public list as release 1 knew it (title words, newest first); the admin's and old callers'."""
    return ticket_search(Ticket.objects.on_sale(), search).newest_first()


def ticket_list_owned(*, user_id: str, search: str | None = None) -> TicketQuerySet:
    return ticket_search(Ticket.objects.listed().filter(user_id=user_id), search).newest_first()


def ticket_get(*, ticket_id: str) -> Ticket | None:
    """The listed ticket, or None for an unknown id, one that is not a UUID at all, or an unlisted
    one (unless it was sold all the same)."""
    try:
        pk = uuid.UUID(str(ticket_id))
    except ValueError:
        return None
    return Ticket.objects.listed().filter(pk=pk).first()
