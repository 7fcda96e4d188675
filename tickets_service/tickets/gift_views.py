"""The gifts API and the owner's list (docs/api.md): parse, call :mod:`tickets.gifts`, serialize."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from tickets import gifts
from tickets.models import Ticket
from tickets.serializers import TicketSerializer


class GiftSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True, help_text="The secret of the link /gifts/<code>.")
    expires_at = serializers.DateTimeField(read_only=True)


class OwnedTicketSerializer(TicketSerializer):
    """A ticket the caller owns, with its unclaimed gift link if they made one."""

    owner_id = serializers.UUIDField(read_only=True)
    gift = serializers.SerializerMethodField()

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "owner_id", "gift"]
        read_only_fields = fields

    @extend_schema_field(GiftSerializer(allow_null=True))
    def get_gift(self, ticket: Ticket) -> dict | None:
        gift = self.context.get("gifts", {}).get(ticket.pk)
        return GiftSerializer(gift).data if gift else None


class OwnedTickets(generics.ListAPIView):
    """Tickets the caller owns (bought or received as a gift), newest first."""

    serializer_class = OwnedTicketSerializer

    def get_queryset(self):
        return Ticket.objects.filter(owner_id=self.request.user.id).order_by("-sold_at", "-id")

    def get_serializer(self, *args, **kwargs):
        if args:
            kwargs.setdefault("context", self.get_serializer_context())
            kwargs["context"]["gifts"] = gifts.pending_gifts(list(args[0]))
        return super().get_serializer(*args, **kwargs)


@extend_schema(
    request=None,
    responses={
        201: GiftSerializer,
        403: OpenApiResponse(description=gifts.NOT_THE_OWNER),
        404: OpenApiResponse(description="No such ticket"),
    },
)
class GiftCreate(generics.GenericAPIView):
    """The owner makes a gift link, valid 7 days; an earlier unclaimed link of the ticket stops working."""

    serializer_class = GiftSerializer

    def post(self, request: Request, ticket_id: uuid.UUID) -> Response:
        gift = gifts.gift_create(ticket_id=ticket_id, user_id=request.user.id)
        return Response(GiftSerializer(gift).data, status=status.HTTP_201_CREATED)


@extend_schema(
    request=None,
    responses={
        200: OwnedTicketSerializer,
        400: OpenApiResponse(description=gifts.OWN_GIFT),
        404: OpenApiResponse(description=gifts.GIFT_NOT_FOUND),
    },
)
class GiftClaim(generics.GenericAPIView):
    """Another signed-in user claims the gift: the ticket is theirs now."""

    serializer_class = OwnedTicketSerializer

    def post(self, request: Request, code: str) -> Response:
        ticket = gifts.gift_claim(code=code, user_id=request.user.id, email=getattr(request.user, "email", ""))
        return Response(OwnedTicketSerializer(ticket, context={"gifts": {}}).data)


@extend_schema(
    request=None,
    responses={
        204: None,
        400: OpenApiResponse(description=gifts.ALREADY_CLAIMED),
        403: OpenApiResponse(description=gifts.NOT_THE_GIVER),
        404: OpenApiResponse(description=gifts.GIFT_NOT_FOUND),
    },
)
class GiftRevoke(generics.GenericAPIView):
    """The giver revokes an unclaimed gift; its link stops working."""

    serializer_class = GiftSerializer

    def delete(self, request: Request, code: str) -> Response:
        gifts.gift_revoke(code=code, user_id=request.user.id)
        return Response(status=status.HTTP_204_NO_CONTENT)
