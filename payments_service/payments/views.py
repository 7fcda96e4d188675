"""The payments API (docs/api.md)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from payments import services
from payments import stripe_gateway as gateway
from payments.serializers import PaymentActionSerializer, PaymentCreateSerializer, PaymentSerializer
from ticketing_shared.idempotency import HEADER as IDEMPOTENCY_KEY
from ticketing_shared.idempotency.keys import respond_once


@extend_schema(
    request=PaymentCreateSerializer,
    parameters=[
        OpenApiParameter(
            IDEMPOTENCY_KEY,
            OpenApiTypes.STR,
            OpenApiParameter.HEADER,
            description="Optional, up to 255 visible ASCII characters, per user, kept 24 h: the same request again "
            "answers the first answer and charges nothing more.",
        )
    ],
    responses={
        201: PaymentSerializer,
        202: OpenApiResponse(
            PaymentActionSerializer,
            description="The card needs 3-D Secure: Stripe.js authenticates it with client_secret in the browser, "
            "then POST /api/payments/{id}/confirm (Stripe's webhook settles it too)",
        ),
        400: OpenApiResponse(
            description=f"Invalid input or {IDEMPOTENCY_KEY}; the order is cancelled, expired or already paid; "
            "or Stripe charged another total than the order's (refunded)"
        ),
        402: OpenApiResponse(description="The card was declined (Stripe's message)"),
        403: OpenApiResponse(description="Not the buyer of this order"),
        404: OpenApiResponse(description="No such order (yet)"),
        409: OpenApiResponse(
            description=f"`{services.TOTAL_CHANGED}` (field expected_total): nothing was charged; or the first "
            f"request with this {IDEMPOTENCY_KEY} is still running"
        ),
        422: OpenApiResponse(description=f"This {IDEMPOTENCY_KEY} was already used for a different request"),
        503: OpenApiResponse(description="Stripe unreachable; nothing was charged, try again"),
    },
)
@api_view(["POST"])
def payment_create(request: Request) -> Response:
    """Pay for one's own order; the order then becomes complete.

    Once per ``Idempotency-Key``. A charge is not one transaction (no transaction is held
    across Stripe calls), so the answer is kept right after it, and the key is held for as
    long as a payment attempt is (``PAYMENT_ATTEMPT_LEASE_SECONDS``).
    """
    return respond_once(request, lambda: _pay(request), lease_seconds=settings.PAYMENT_ATTEMPT_LEASE_SECONDS,
                        atomic=False)


def _pay(request: Request) -> Response:
    serializer = PaymentCreateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    payment = services.payment_create(
        order_id=serializer.validated_data["order_id"],
        user_id=request.user.id,
        email=request.user.email,
        payment_method=serializer.validated_data["payment_method"],
        expected_total=serializer.validated_data.get("expected_total"),
    )
    if isinstance(payment, services.ActionRequired):
        body = {**PaymentSerializer(payment.payment).data, "status": "requires_action",
                "client_secret": payment.client_secret}
        return Response(body, status=status.HTTP_202_ACCEPTED)
    return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)


@extend_schema(
    request=None,
    responses={
        200: PaymentSerializer,
        400: OpenApiResponse(
            description=f"`{services.AUTHENTICATION_INCOMPLETE}`, or the order was cancelled meanwhile (refunded)"
        ),
        402: OpenApiResponse(description="The authentication failed or the card was declined (Stripe's message)"),
        403: OpenApiResponse(description="Not the buyer of this order"),
        404: OpenApiResponse(description=services.PAYMENT_NOT_FOUND),
        503: OpenApiResponse(description="Stripe unreachable; try again"),
    },
)
@api_view(["POST"])
def payment_confirm(request: Request, pk) -> Response:
    """After the buyer authenticated the card in the browser (3-D Secure): settle the payment."""
    payment = services.payment_confirm(payment_id=pk, user_id=request.user.id)
    return Response(PaymentSerializer(payment).data)


@extend_schema(
    request=None,
    parameters=[OpenApiParameter("Stripe-Signature", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
                                 description="Stripe's signature of the body (STRIPE_WEBHOOK_SECRET)")],
    responses={
        200: OpenApiResponse(description="Event received (`ignored: true` for an event type we do not act on)"),
        400: OpenApiResponse(description="Bad signature, or a signed payload that is not an event we can use"),
    },
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def stripe_webhook(request: Request) -> Response:
    """Stripe's events, authenticated by their signature (``STRIPE_WEBHOOK_SECRET``), not a JWT."""
    event = gateway.parse_webhook(request.body, request.headers.get("Stripe-Signature"))  # BadWebhook: 400
    handled = services.stripe_event_handle(event)
    return Response({"received": True} if handled else {"received": True, "ignored": True})
