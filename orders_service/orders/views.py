"""The orders API (docs/api.md): parse, call a service, serialize."""

from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from orders import notifications, selectors, services
from orders.serializers import OrderCreateSerializer, OrderSerializer, OrderTicketAddSerializer
from ticketing_shared.idempotency import HEADER as IDEMPOTENCY_KEY
from ticketing_shared.idempotency.keys import respond_once

# A reservation is one short transaction: a key held longer than this belongs to a request that died.
IDEMPOTENCY_LEASE_SECONDS = 30.0

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_KEY,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Optional, up to 255 visible ASCII characters, per user, kept 24 h: the same request again "
    "answers the first answer and reserves nothing more.",
)


@extend_schema_view(
    get=extend_schema(summary="The caller's orders, newest first"),
    post=extend_schema(
        summary="Reserve a ticket, or several in one order",
        request=OrderCreateSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: OrderSerializer,
            400: OpenApiResponse(
                description=f"Bad ticket_id, ticket_ids, expected_total or {IDEMPOTENCY_KEY}, "
                f"`{services.TICKET_ALREADY_RESERVED}`, `{services.TOO_MANY_OPEN_ORDERS}`, or (field ticket_ids) "
                "some of the tickets are taken or unknown, each named: nothing was reserved"
            ),
            404: OpenApiResponse(description=f"{services.TICKET_NOT_FOUND} (ticket_id)"),
            409: OpenApiResponse(
                description=f"`{services.PRICE_CHANGED}` (field expected_total): nothing was made; or the first "
                f"request with this {IDEMPOTENCY_KEY} is still running"
            ),
            422: OpenApiResponse(description=f"This {IDEMPOTENCY_KEY} was already used for a different request"),
        },
    ),
)
class OrderListCreate(generics.ListCreateAPIView):
    serializer_class = OrderSerializer

    def get_queryset(self):
        return selectors.order_list(user_id=self.request.user.id)

    def create(self, request: Request, *args, **kwargs) -> Response:
        """Once per ``Idempotency-Key``: the order and the answer a retry replays commit together."""
        return respond_once(request, lambda: self._reserve(request), lease_seconds=IDEMPOTENCY_LEASE_SECONDS,
                            atomic=True)

    def _reserve(self, request: Request) -> Response:
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.order_create(
            user_id=request.user.id,
            ticket_id=serializer.validated_data.get("ticket_id"),
            ticket_ids=serializer.validated_data.get("ticket_ids"),
            expected_total=serializer.validated_data.get("expected_total"),
        )
        notifications.remember_buyer(request.user)  # after the refusals: they write nothing
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        summary="One of the caller's orders",
        responses={
            200: OrderSerializer,
            403: OpenApiResponse(description="Someone else's order"),
            404: OpenApiResponse(description=services.ORDER_NOT_FOUND),
        },
    ),
    delete=extend_schema(
        summary="Cancel one of the caller's orders",
        responses={
            204: None,
            400: OpenApiResponse(description=services.CANNOT_CANCEL_COMPLETE),
            403: OpenApiResponse(description="Someone else's order"),
            404: OpenApiResponse(description=services.ORDER_NOT_FOUND),
        },
    ),
)
class OrderDetail(generics.GenericAPIView):
    """Whose order it is, the service decides (403 for anyone but its buyer)."""

    serializer_class = OrderSerializer

    def get(self, request: Request, pk: uuid.UUID) -> Response:
        order = services.order_get(order_id=pk, user_id=request.user.id)
        return Response(OrderSerializer(order).data)

    def delete(self, request: Request, pk: uuid.UUID) -> Response:
        """Cancels; the order stays (the buyer still sees it, as ``cancelled``)."""
        services.order_cancel(order_id=pk, user_id=request.user.id)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    summary="Add a ticket to one's unpaid order (the cart)",
    request=OrderTicketAddSerializer,
    responses={
        200: OrderSerializer,
        400: OpenApiResponse(
            description=f"Bad ticket_id, `{services.TICKET_ALREADY_RESERVED}`, `{services.TICKET_ALREADY_IN_ORDER}`, "
            f"`{services.TOO_MANY_TICKETS}` or `{services.ORDER_NOT_OPEN}`"
        ),
        403: OpenApiResponse(description="Someone else's order"),
        404: OpenApiResponse(description=f"{services.ORDER_NOT_FOUND} / {services.TICKET_NOT_FOUND}"),
    },
)
class OrderTicketAdd(generics.GenericAPIView):
    """The ticket is reserved at once, until the order's own ``expires_at``."""

    serializer_class = OrderSerializer

    def post(self, request: Request, pk: uuid.UUID) -> Response:
        serializer = OrderTicketAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.order_add_ticket(order_id=pk, user_id=request.user.id,
                                          ticket_id=serializer.validated_data["ticket_id"])
        return Response(OrderSerializer(selectors.order_queryset().get(pk=order.pk)).data)


@extend_schema(
    summary="Take a ticket out of one's unpaid order",
    request=None,
    responses={
        200: OrderSerializer,
        400: OpenApiResponse(description=services.ORDER_NOT_OPEN),
        403: OpenApiResponse(description="Someone else's order"),
        404: OpenApiResponse(description=f"{services.ORDER_NOT_FOUND} / {services.TICKET_NOT_IN_ORDER}"),
    },
)
class OrderTicketRemove(generics.GenericAPIView):
    """The ticket is free again at once; the order left empty is cancelled instead (status ``cancelled``)."""

    serializer_class = OrderSerializer

    def delete(self, request: Request, pk: uuid.UUID, ticket_id: uuid.UUID) -> Response:
        order = services.order_remove_ticket(order_id=pk, user_id=request.user.id, ticket_id=ticket_id)
        return Response(OrderSerializer(selectors.order_queryset().get(pk=order.pk)).data)
