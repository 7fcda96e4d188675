"""The tickets API (docs/api.md): parse, call a service, serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.permissions import SAFE_METHODS, AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from ticketing_shared.errors import NotFound
from tickets import selectors, services
from tickets.models import Ticket
from tickets.serializers import (
    CATEGORY_LIST_PATTERN,
    DATE_OR_DATETIME_PATTERN,
    QUERY_MONEY_PATTERN,
    CatalogQuerySerializer,
    OwnTicketSerializer,
    TicketInputSerializer,
    TicketSerializer,
)

SEARCH = OpenApiParameter("search", str, description="Words that must all appear in the title (any case, any part).")


def _string(pattern: str | None = None, **extra) -> dict:
    return {"type": "string", **({"pattern": pattern} if pattern else {}), **extra}


CATALOG_PARAMETERS = [
    OpenApiParameter("q", _string(), description=(
        "Words to find in title, venue, city and description (English stemming: `concerts` finds `concert`; "
        "quotes for a phrase, `or`, `-word` to exclude). Sorted by relevance unless `sort` says otherwise."
    )),
    OpenApiParameter("search", _string(), description="The same as `q` (older clients)."),
    OpenApiParameter("category", _string(CATEGORY_LIST_PATTERN),
                     description="One category or several, commas between."),
    OpenApiParameter("city", _string(), description="The city, exactly as listed (see the `city` facet)."),
    OpenApiParameter("price_min", _string(QUERY_MONEY_PATTERN), description="Lowest price, included."),
    OpenApiParameter("price_max", _string(QUERY_MONEY_PATTERN), description="Highest price, included."),
    OpenApiParameter("starts_after", _string(DATE_OR_DATETIME_PATTERN), description=(
        "Events starting at or after this date (its midnight, UTC) or datetime; hides tickets without a date."
    )),
    OpenApiParameter("starts_before", _string(DATE_OR_DATETIME_PATTERN), description=(
        "Events starting before this datetime, or on or before this date; hides tickets without a date."
    )),
    OpenApiParameter("sort", _string(enum=["", "relevance", "newest", "soonest", "price", "-price"]), description=(
        "`relevance` (default with `q`), `newest` (default without), `soonest`, `price`, `-price`; empty: the default."
    )),
]

CATALOG_PAGE = inline_serializer("CatalogPage", fields={
    "count": serializers.IntegerField(),
    "next": serializers.URLField(allow_null=True),
    "previous": serializers.URLField(allow_null=True),
    "results": TicketSerializer(many=True),
    "facets": inline_serializer("CatalogFacets", fields={
        "category": serializers.DictField(child=serializers.IntegerField(),
                                          help_text="Matching tickets per category."),
        "city": serializers.DictField(child=serializers.IntegerField(), help_text="Matching tickets per city."),
    }, help_text="Counts over every matching ticket, not only this page."),
})


class PublicReads:
    """Anyone may read tickets: reads ignore credentials, so a stale token never turns them into a 401."""

    def _is_read(self) -> bool:
        request = getattr(self, "request", None)  # None while drf-spectacular builds its mock request
        return request is not None and request.method in SAFE_METHODS

    def get_authenticators(self):
        return [] if self._is_read() else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self._is_read() else super().get_permissions()


class TicketListCreate(PublicReads, generics.GenericAPIView):
    serializer_class = TicketSerializer

    @extend_schema(
        operation_id="root_list",
        parameters=[*CATALOG_PARAMETERS,
                    OpenApiParameter("limit", {"type": "integer", "minimum": 1}, description="Page size (max 100)."),
                    OpenApiParameter("offset", {"type": "integer", "minimum": 0}, description="Tickets to skip.")],
        responses={200: CATALOG_PAGE},
        description=(
            "Tickets on sale (free, listed, event not started) matching every filter given, with facet counts."
        ),
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        query = CatalogQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.to_filters()
        page = self.paginate_queryset(selectors.catalog_list(filters))
        response = self.get_paginated_response(TicketSerializer(page, many=True).data)
        response.data["facets"] = selectors.catalog_facets(filters)
        return response

    @extend_schema(request=TicketInputSerializer, responses={201: TicketSerializer})
    def post(self, request: Request) -> Response:
        serializer = TicketInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ticket = services.ticket_create(user_id=request.user.id, **serializer.validated_data)
        return Response(TicketSerializer(ticket).data, status=status.HTTP_201_CREATED)

    def get_queryset(self):  # only for the generic view's machinery; get() builds the real one
        return selectors.catalog_list(selectors.CatalogFilters())


class MyTickets(generics.ListAPIView):
    """The caller's tickets in every state, newest first, each with its ``status``."""

    serializer_class = OwnTicketSerializer

    def get_queryset(self):
        return selectors.ticket_list_owned(user_id=self.request.user.id, search=self.request.query_params.get("search"))

    @extend_schema(parameters=[SEARCH])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class TicketDetail(PublicReads, generics.GenericAPIView):
    serializer_class = TicketSerializer

    def get_object(self) -> Ticket:
        ticket = selectors.ticket_get(ticket_id=self.kwargs["ticket_id"])
        if ticket is None:
            raise NotFound("Not found.")
        return ticket

    def get(self, request: Request, ticket_id: str) -> Response:
        return Response(TicketSerializer(self.get_object()).data)

    @extend_schema(
        request=TicketInputSerializer,
        responses={
            200: TicketSerializer,
            400: OpenApiResponse(description=f"Invalid input, or `{services.RESERVED_MESSAGE}`"),
            403: OpenApiResponse(description="Not the owner"),
            409: OpenApiResponse(description="Changed by a concurrent write between our read and our write"),
        },
    )
    def put(self, request: Request, ticket_id: str) -> Response:
        """Last write wins: a ``version`` in the body is ignored (sending a GET body back twice is fine).

        Only a write that races another one between our read and our write is a 409.
        """
        ticket = self.get_object()
        serializer = TicketInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ticket = services.ticket_update(ticket=ticket, by_user=request.user.id, **serializer.validated_data)
        return Response(TicketSerializer(ticket).data)

    @extend_schema(
        request=None,
        responses={
            204: OpenApiResponse(description="Unlisted: gone from every list, answers 404 from now on"),
            400: OpenApiResponse(
                description=f"`{services.UNLIST_RESERVED_MESSAGE}` or `{services.UNLIST_SOLD_MESSAGE}`"
            ),
            403: OpenApiResponse(description="Not the owner"),
            409: OpenApiResponse(description="Changed by a concurrent write between our read and our write"),
        },
    )
    def delete(self, request: Request, ticket_id: str) -> Response:
        """The seller takes a free ticket off sale for good (``ticket.updated`` with ``unlisted: true``)."""
        services.ticket_unlist(ticket=self.get_object(), by_user=request.user.id)
        return Response(status=status.HTTP_204_NO_CONTENT)
