from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from rest_framework import serializers

from ticketing_shared.money import money_str as money
from ticketing_shared.openapi import MoneySchemaMixin
from tickets.models import PRICE_MAX, TITLE_MAX_LENGTH, Ticket

CENT = Decimal("0.01")


class PriceField(MoneySchemaMixin, serializers.Field):
    """Money: a number or a decimal string in, a string with two places (``"20.00"``) out.

    ``20``, ``"20.5"`` and ``"20.500"`` are fine; ``20.005`` is refused rather than rounded.
    """

    MAX_INPUT_LENGTH = 50
    # More than 0, at most 1,000,000.00, two places at most (the OpenAPI document's input schema).
    money_input_pattern = r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,5}(\.[0-9]{1,2})?|1000000(\.00?)?)$"
    money_minimum = 0
    money_exclusive_minimum = True
    money_maximum = float(PRICE_MAX)
    default_error_messages = {
        "invalid": "A valid number is required.",
        "min_value": "Price must be greater than 0.",
        "max_value": f"Price must be at most {PRICE_MAX:,}.",
        "decimal_places": "Price must have at most 2 decimal places.",
    }

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, (str, int, float, Decimal)):
            self.fail("invalid")
        text = str(data).strip()
        if len(text) > self.MAX_INPUT_LENGTH:
            self.fail("invalid")
        try:
            value = Decimal(text)
        except InvalidOperation:
            self.fail("invalid")
        if not value.is_finite():
            self.fail("invalid")
        if value <= 0:
            self.fail("min_value")
        if value > PRICE_MAX:
            self.fail("max_value")
        rounded = value.quantize(CENT)
        if rounded != value:
            self.fail("decimal_places")
        return rounded

    def to_representation(self, value: Decimal) -> str:
        return money(value)


class TicketSerializer(serializers.ModelSerializer):
    """The API's ticket, exactly: ``{id, title, price, user_id, order_id, version, owner_id}`` (docs/api.md)."""

    price = PriceField()

    class Meta:
        model = Ticket
        fields = ["id", "title", "price", "user_id", "order_id", "version", "owner_id"]
        read_only_fields = fields


class OwnTicketSerializer(TicketSerializer):
    """A ticket in its seller's own list (``/mine``), plus ``status``: ``available``, ``reserved`` or ``sold``.

    ``order_id`` alone cannot tell a ticket held by an unpaid order from a sold one; the
    seller needs that, nobody else does.
    """

    status = serializers.ChoiceField(choices=Ticket.Status.choices, read_only=True)

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "status"]
        read_only_fields = fields


class TicketInputSerializer(serializers.Serializer):
    """What a client may set: other keys (``id``, ``version``, ... of a ticket sent back) are ignored."""

    title = serializers.CharField(max_length=TITLE_MAX_LENGTH)
    price = PriceField()
