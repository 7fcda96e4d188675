from __future__ import annotations

from rest_framework import serializers

from payments.models import Order, Payment


class PaymentCreateSerializer(serializers.Serializer):
    order_id = serializers.UUIDField()
    payment_method = serializers.RegexField(
        r"^(pm|tok)_[A-Za-z0-9_]+$",
        max_length=255,
        help_text="A Stripe PaymentMethod id (pm_card_visa in test mode) or a Stripe.js card token (tok_...).",
        error_messages={"invalid": "Expected a Stripe PaymentMethod id (pm_...) or a card token (tok_...)."},
    )


class PaymentSerializer(serializers.ModelSerializer):
    order_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Payment
        fields = ["id", "order_id", "stripe_id", "amount", "status"]
        read_only_fields = fields


# -- event payloads (SPEC §4); anything that does not fit is a poison message ----------


class _TicketRef(serializers.Serializer):
    id = serializers.UUIDField()
    price = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0)


class OrderCreatedData(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Order.Status.choices)
    user_id = serializers.UUIDField()
    expires_at = serializers.DateTimeField()
    version = serializers.IntegerField(min_value=0)
    ticket = _TicketRef()


class OrderChangedData(serializers.Serializer):
    """``order.cancelled`` and ``order.completed``."""

    id = serializers.UUIDField()
    version = serializers.IntegerField(min_value=0)
