from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from ticketing_shared.money import money_str as money
from ticketing_shared.openapi import MoneySchemaMixin
from tickets.models import (
    CITY_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    PRICE_MAX,
    TITLE_MAX_LENGTH,
    VENUE_MAX_LENGTH,
    Ticket,
)
from tickets.selectors import SORTS, CatalogFilters

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
    """The API's ticket: ``{id, title, price, user_id, order_id, version, owner_id}`` (docs/api.md)
    and the event it is for: ``starts_at``, ``venue``, ``city``, ``category``, ``description``."""

    price = PriceField()

    class Meta:
        model = Ticket
        fields = ["id", "title", "price", "user_id", "order_id", "version", "owner_id",
                  "starts_at", "venue", "city", "category", "description"]
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


# Text the API stores: no NUL (PostgreSQL cannot hold one); a required one has a visible character.
# (Optional text may also be "": drf-spectacular adds that as a second ``oneOf`` branch, so this
# one starts at one character and the two never overlap.)
NO_NUL = r"^[^\x00]+$"
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"


class TextField(serializers.CharField):
    """A string, and only a string: ``123`` is not a title. The document's pattern says what is
    refused (NUL characters; blank text where it is required), so nothing it allows is a 400."""

    default_error_messages = {"invalid": "Not a valid string.", "null_characters": "Null characters are not allowed."}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # Our own check below says it with our message; DRF's validator would repeat it.
        self.validators = [v for v in self.validators if type(v).__name__ != "ProhibitNullCharactersValidator"]

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if "\x00" in data:
            self.fail("null_characters")
        if self.max_length is not None and len(data) > self.max_length:
            # Measured before DRF trims the whitespace: the document's maxLength counts it too.
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)

    def openapi_schema(self) -> dict[str, Any]:
        return _text_schema(self.max_length, required=not isinstance(self, OptionalText))


class TextFieldExtension(OpenApiSerializerFieldExtension):
    """The document of a :class:`TextField`: exactly what it takes, with no ``minLength`` or
    blank ``oneOf`` of drf-spectacular's own."""

    target_class = "tickets.serializers.TextField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction) -> dict[str, Any]:
        return self.target.openapi_schema()


def _text_schema(max_length: int, *, required: bool) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, "pattern": NOT_BLANK if required else NO_NUL}


class TitleField(TextField):
    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=TITLE_MAX_LENGTH, **kwargs)


class OptionalText(TextField):
    """May be left out or blank (stored as ""). Blank is handled here rather than with DRF's
    ``allow_blank``, whose document would say "a string, or an empty one" as an ambiguous ``oneOf``."""

    def __init__(self, max_length: int, **kwargs) -> None:
        super().__init__(max_length=max_length, required=False, allow_blank=True, **kwargs)

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if isinstance(data, str) and not data.strip():
            return ""
        return super().run_validation(data)


class VenueField(OptionalText):
    def __init__(self, **kwargs) -> None:
        super().__init__(VENUE_MAX_LENGTH, **kwargs)


class CityField(OptionalText):
    def __init__(self, **kwargs) -> None:
        super().__init__(CITY_MAX_LENGTH, **kwargs)


class DescriptionField(OptionalText):
    def __init__(self, **kwargs) -> None:
        super().__init__(DESCRIPTION_MAX_LENGTH, **kwargs)


PAST_EVENT = "The event must start in the future."


class TicketInputSerializer(serializers.Serializer):
    """What a client may set: other keys (``id``, ``version``, ... of a ticket sent back) are ignored.

    The event's details are optional (release-1 clients send only ``title`` and ``price``);
    an edit that leaves one out keeps what the ticket had. ``starts_at`` null clears it.
    """

    title = TitleField()
    price = PriceField()
    starts_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="ISO-8601 with an offset; must be in the future."
    )
    venue = VenueField()
    city = CityField()
    category = serializers.ChoiceField(choices=Ticket.Category.choices, required=False)
    description = DescriptionField()

    def validate_starts_at(self, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError(PAST_EVENT)
        return value


# -- the public list's query ----------------------------------------------------------------

CATEGORY_NAMES = "|".join(Ticket.Category.values)
# Each filter may also be given empty (``?city=``, as a form sends it): then it filters nothing.
CATEGORY_LIST_PATTERN = rf"^(({CATEGORY_NAMES})(,({CATEGORY_NAMES}))*)?$"
QUERY_MONEY_PATTERN = r"^([0-9]{1,7}(\.[0-9]{1,2})?)?$"
DATE_OR_DATETIME_PATTERN = (
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?)?$"
)


class QueryMoneyField(serializers.Field):
    default_error_messages = {"invalid": "Must be an amount such as 20 or 20.50 (at most two decimals)."}

    def to_internal_value(self, data: Any) -> Decimal:
        if not isinstance(data, str) or not data or not re.fullmatch(QUERY_MONEY_PATTERN, data):
            self.fail("invalid")
        return Decimal(data)


class DateOrDateTimeField(serializers.Field):
    """``2026-03-14`` (that day's midnight, UTC; or the next one's for an upper bound, so
    ``starts_before=2026-03-14`` includes the 14th) or an ISO-8601 datetime (UTC without offset)."""

    default_error_messages = {"invalid": "Must be a date (YYYY-MM-DD) or an ISO-8601 datetime."}

    def __init__(self, *, end_of_day: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.end_of_day = end_of_day

    def to_internal_value(self, data: Any) -> dt.datetime:
        if not isinstance(data, str) or not data or not re.fullmatch(DATE_OR_DATETIME_PATTERN, data):
            self.fail("invalid")
        try:
            if len(data) == 10:
                day = parse_date(data)
                if self.end_of_day:
                    day += dt.timedelta(days=1)
                return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            value = parse_datetime(data)
            if value is None:
                self.fail("invalid")
            return value if timezone.is_aware(value) else value.replace(tzinfo=dt.UTC)
        except (ValueError, OverflowError):
            self.fail("invalid")


class CategoryListField(serializers.Field):
    default_error_messages = {
        "invalid": f"Must be one or more of {', '.join(Ticket.Category.values)}, separated by commas."
    }

    def to_internal_value(self, data: Any) -> tuple[str, ...]:
        if not isinstance(data, str):
            self.fail("invalid")
        names = [name.strip() for name in data.split(",") if name.strip()]
        if any(name not in Ticket.Category.values for name in names):
            self.fail("invalid")
        return tuple(dict.fromkeys(names))


class CatalogQuerySerializer(serializers.Serializer):
    """The public list's filters (docs/api.md, "Search"); a bad value is a 400 naming its field."""

    q = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    search = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    category = CategoryListField(required=False)
    city = serializers.CharField(required=False, allow_blank=True)
    price_min = QueryMoneyField(required=False)
    price_max = QueryMoneyField(required=False)
    starts_after = DateOrDateTimeField(required=False)
    starts_before = DateOrDateTimeField(required=False, end_of_day=True)
    sort = serializers.ChoiceField(choices=SORTS, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("q", "search", "city"):
            # Free text: a NUL is dropped below rather than refused, like any other odd character.
            self.fields[name].validators = []

    def to_filters(self) -> CatalogFilters:
        data = self.validated_data
        text = data.get("q") or data.get("search") or ""
        return CatalogFilters(
            q=text.replace("\x00", ""),
            categories=data.get("category", ()),
            city=data.get("city", "").replace("\x00", "").strip(),
            price_min=data.get("price_min"),
            price_max=data.get("price_max"),
            starts_after=data.get("starts_after"),
            starts_before=data.get("starts_before"),
            sort=data.get("sort", ""),
        )
