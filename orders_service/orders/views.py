"""The orders API (docs/api.md): parse, call a service, serialize."""

from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from orders import notifications, selectors, services
from orders.serializers import OrderCreateSerializer, OrderSerializer
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
        summary="Reserve a ticket",
        request=OrderCreateSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: OrderSerializer,
            400: OpenApiResponse(
                description=f"Bad ticket_id, expected_total or {IDEMPOTENCY_KEY}, "
                f"`{services.TICKET_ALREADY_RESERVED}` or `{services.TOO_MANY_OPEN_ORDERS}`"
            ),
            404: OpenApiResponse(description=services.TICKET_NOT_FOUND),
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
        notifications.remember_buyer(request.user)
        order = services.order_create(
            user_id=request.user.id,
            ticket_id=serializer.validated_data["ticket_id"],
            expected_total=serializer.validated_data.get("expected_total"),
        )
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
