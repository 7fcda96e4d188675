from __future__ import annotations

from rest_framework import serializers

from payments.models import Payment
from ticketing_shared import money
from ticketing_shared.openapi import MoneySchemaMixin, MoneyStringField


class ExpectedTotalField(MoneySchemaMixin, serializers.DecimalField):
    """Money in: a decimal string or a number, at most two places."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_digits=money.MAX_DIGITS, decimal_places=money.DECIMAL_PLACES, min_value=0, **kwargs)


class PaymentCreateSerializer(serializers.Serializer):
    order_id = serializers.UUIDField()
    payment_method = serializers.RegexField(
        r"^(pm|tok)_[A-Za-z0-9_]+$",
        max_length=255,
        help_text="A Stripe PaymentMethod id (pm_card_visa in test mode) or a Stripe.js card token (tok_...).",
        error_messages={"invalid": "Expected a Stripe PaymentMethod id (pm_...) or a card token (tok_...)."},
    )
    expected_total = ExpectedTotalField(
        required=False,
        allow_null=True,
        help_text="The total the buyer was shown (a cart changes): another total is a 409 and no charge.",
    )


class PaymentSerializer(serializers.ModelSerializer):
    order_id = serializers.UUIDField(read_only=True)
    amount = MoneyStringField()

    class Meta:
        model = Payment
        fields = ["id", "order_id", "stripe_id", "amount", "status"]
        read_only_fields = fields


class PaymentActionSerializer(PaymentSerializer):
    """A payment waiting for the buyer to authenticate the card (3-D Secure) in the browser:
    Stripe.js finishes it with ``client_secret``, then ``POST /api/payments/{id}/confirm``."""

    status = serializers.CharField(read_only=True, help_text="requires_action")
    client_secret = serializers.CharField(read_only=True, help_text="The PaymentIntent's client secret, for Stripe.js.")

    class Meta(PaymentSerializer.Meta):
        fields = [*PaymentSerializer.Meta.fields, "client_secret"]
        read_only_fields = fields
