from __future__ import annotations

import json
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


MAX_TICKETS_PER_ORDER = 10


class TicketIdsField(serializers.ListField):
    """A list of ticket ids whose bad items are the field's own error (``field: ticket_ids``,
    as for taken or unknown tickets), naming them, rather than one error per index."""

    def __init__(self, **kwargs) -> None:
        super().__init__(child=UUIDStringField(), **kwargs)

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):  # not a list, too short, too long
                raise
            bad = [data[int(index)] for index in sorted(exc.detail, key=int)]
            named = ", ".join(_quoted(item) for item in bad[:MAX_TICKETS_PER_ORDER])
            more = f" and {len(bad) - MAX_TICKETS_PER_ORDER} more" if len(bad) > MAX_TICKETS_PER_ORDER else ""
            raise serializers.ValidationError(f"Not ticket ids (UUID strings): {named}{more}") from exc


def _quoted(item, limit: int = 40) -> str:
    """An item as the client wrote it (JSON for what is not a string), cut to ``limit``."""
    text = item if isinstance(item, str) else json.dumps(item)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OrderCreateSerializer(serializers.Serializer):
    """One ticket (``ticket_id``, as before carts) or a set (``ticket_ids``), not both."""

    ticket_id = UUIDStringField(required=False, help_text="One ticket to reserve (or give ticket_ids).")
    ticket_ids = TicketIdsField(
        required=False,
        min_length=1,
        max_length=MAX_TICKETS_PER_ORDER,
        help_text=f"1 to {MAX_TICKETS_PER_ORDER} distinct tickets, reserved all in one order or none.",
    )
    expected_total = MoneyField(
        required=False,
        allow_null=True,
        help_text="The total the buyer was shown (money, e.g. \"10.00\"): another total is a 409 and no order.",
    )

    def validate_ticket_ids(self, value: list) -> list:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each ticket may be named once.")
        return value

    def validate(self, attrs: dict) -> dict:
        if ("ticket_id" in attrs) == ("ticket_ids" in attrs):
            field = "ticket_ids" if "ticket_ids" in attrs else "ticket_id"
            raise serializers.ValidationError({field: ["Give either ticket_id or ticket_ids."]})
        return attrs


class OrderTicketAddSerializer(serializers.Serializer):
    ticket_id = UUIDStringField()


class CancelReasonField(serializers.ChoiceField):
    """One of ``Order.CancelReason``, or null where the database keeps an empty string."""

    def __init__(self, **kwargs) -> None:
        super().__init__(choices=Order.CancelReason.choices, read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value: str) -> str | None:
        return value or None


class OrderTicketSerializer(serializers.Serializer):
    """A ticket of the order; ``price`` is the one it was reserved at, what the buyer pays for it."""

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
    ticket = OrderTicketSerializer(source="first_item", read_only=True,
                                   help_text="The first ticket (kept for clients from before carts).")
    tickets = OrderTicketSerializer(source="ticket_items", many=True, read_only=True)
    total = MoneyStringField(source="price", help_text="What the order costs: its tickets' prices together.")
