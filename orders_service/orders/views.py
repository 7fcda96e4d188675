"""The orders API (docs/api.md): parse, call a service, serialize."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from orders import selectors, services
from orders.serializers import OrderCreateSerializer, OrderSerializer


@extend_schema_view(
    get=extend_schema(summary="The caller's orders, newest first"),
    post=extend_schema(
        summary="Reserve a ticket",
        request=OrderCreateSerializer,
        responses={
            201: OrderSerializer,
            400: OpenApiResponse(
                description=f"Bad ticket_id or expected_total, or `{services.TICKET_ALREADY_RESERVED}`"
            ),
            404: OpenApiResponse(description=services.TICKET_NOT_FOUND),
            409: OpenApiResponse(description=f"`{services.PRICE_CHANGED}` (field expected_total): nothing was made"),
        },
    ),
)
class OrderListCreate(generics.ListCreateAPIView):
    serializer_class = OrderSerializer

    def get_queryset(self):
        return selectors.order_list(user_id=self.request.user.id)

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
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
