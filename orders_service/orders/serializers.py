from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from orders.models import Order
from ticketing_shared import money
from ticketing_shared.openapi import MoneySchemaMixin, MoneyStringField


class UUIDStringField(serializers.UUIDField):
    """A UUID written as a string, like every id of the API (DRF's field also takes integers)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class MoneyField(MoneySchemaMixin, serializers.DecimalField):
    """Money in: a decimal string (``"10.00"``) or a number, not negative, at most two places,
    within the suite's one money precision. ``null`` means "not given"; ``""``, ``true`` or a list are invalid."""

    def __init__(self, **kwargs) -> None:
        super().__init__(
            max_digits=money.MAX_DIGITS, decimal_places=money.DECIMAL_PLACES, min_value=Decimal("0"), **kwargs
        )

    def validate_empty_values(self, data):
        if isinstance(data, str) and not data.strip():
            self.fail("invalid")  # DRF's DecimalField would read a blank string as null
        return super().validate_empty_values(data)

    def to_internal_value(self, data) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, (str, int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class OrderCreateSerializer(serializers.Serializer):
    ticket_id = UUIDStringField()
    expected_total = MoneyField(
        required=False,
        allow_null=True,
        help_text="The total the buyer was shown (money, e.g. \"10.00\"): another total is a 409 and no order.",
    )


class CancelReasonField(serializers.ChoiceField):
    """One of ``Order.CancelReason``, or null where the database keeps an empty string."""

    def __init__(self, **kwargs) -> None:
        super().__init__(choices=Order.CancelReason.choices, read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value: str) -> str | None:
        return value or None


class OrderTicketSerializer(serializers.Serializer):
    """The reserved ticket; ``price`` is the one the order was made at, what the buyer pays."""

    id = serializers.UUIDField(source="ticket_id", read_only=True)
    title = serializers.CharField(source="ticket.title", read_only=True)
    price = MoneyStringField()


class OrderSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    status = serializers.CharField(read_only=True)
    cancel_reason = CancelReasonField(help_text="Why it was cancelled; null if it was not (or before reasons).")
    expires_at = serializers.DateTimeField(read_only=True)
    user_id = serializers.UUIDField(read_only=True)
    version = serializers.IntegerField(read_only=True)
    ticket = OrderTicketSerializer(source="*", read_only=True)
