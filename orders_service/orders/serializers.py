from __future__ import annotations

from rest_framework import serializers


class UUIDStringField(serializers.UUIDField):
    """A UUID written as a string, like every id of the API (DRF's field also takes integers)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class OrderCreateSerializer(serializers.Serializer):
    ticket_id = UUIDStringField()


class OrderTicketSerializer(serializers.Serializer):
    """The reserved ticket; ``price`` is the one the order was made at, what the buyer pays."""

    id = serializers.UUIDField(source="ticket_id", read_only=True)
    title = serializers.CharField(source="ticket.title", read_only=True)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)


class OrderSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    status = serializers.CharField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)
    user_id = serializers.UUIDField(read_only=True)
    version = serializers.IntegerField(read_only=True)
    ticket = OrderTicketSerializer(source="*", read_only=True)
