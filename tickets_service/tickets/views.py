"""The tickets API (docs/api.md): parse, call a service, serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import SAFE_METHODS, AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from ticketing_shared.errors import NotFound
from tickets import selectors, services
from tickets.models import Ticket
from tickets.serializers import OwnTicketSerializer, TicketInputSerializer, TicketSerializer

SEARCH = OpenApiParameter("search", str, description="Words that must all appear in the title (any case, any part).")


class PublicReads:
    """Anyone may read tickets: reads ignore credentials, so a stale token never turns them into a 401."""

    def _is_read(self) -> bool:
        request = getattr(self, "request", None)  # None while drf-spectacular builds its mock request
        return request is not None and request.method in SAFE_METHODS

    def get_authenticators(self):
        return [] if self._is_read() else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self._is_read() else super().get_permissions()


class TicketListCreate(PublicReads, generics.ListAPIView):
    serializer_class = TicketSerializer

    def get_queryset(self):
        return selectors.ticket_list_available(search=self.request.query_params.get("search"))

    @extend_schema(parameters=[SEARCH], description="Tickets nobody holds, newest first.")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=TicketInputSerializer, responses={201: TicketSerializer})
    def post(self, request: Request) -> Response:
        serializer = TicketInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ticket = services.ticket_create(user_id=request.user.id, **serializer.validated_data)
        return Response(TicketSerializer(ticket).data, status=status.HTTP_201_CREATED)


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
