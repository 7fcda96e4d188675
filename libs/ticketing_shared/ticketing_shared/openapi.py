"""The OpenAPI documents say exactly what the API answers (docs/api.md, "OpenAPI documents").

:func:`error_responses` is a drf-spectacular postprocessing hook: one ``ErrorResponse``
component for the shared error shape (``{"errors": [{"message", "field"?}]}``), given to
every 4xx a view declares, plus the failures common to every operation: 400 for one with
a body, query or header parameters, 401 for one that takes a token, 404 for one with path
parameters, 413 and 415 for one with a body. Views declare their own (402, 403, 409, 422,
429, 503) with ``extend_schema(responses=...)``; a description alone is enough.

Money is a string with two decimals (``"20.00"``) in every answer: :data:`MONEY_SCHEMA`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from ticketing_shared.money import DECIMAL_PLACES, MAX_DIGITS

ERROR_COMPONENT = "ErrorResponse"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
ERROR_SCHEMA = {
    "type": "object",
    "description": 'Every 4xx and 5xx: `{"errors": [{"message", "field"?}]}` (docs/api.md, "Errors").',
    "properties": {
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "field": {"type": "string", "description": "The input it is about, nested ones dotted."},
                },
                "required": ["message"],
            },
        }
    },
    "required": ["errors"],
}

# What the API answers for money: a string with two decimals, never a float.
MONEY_PATTERN = rf"^-?\d{{1,{MAX_DIGITS - 2}}}\.\d{{2}}$"
MONEY_SCHEMA: dict[str, Any] = {"type": "string", "pattern": MONEY_PATTERN, "example": "20.00"}

COMMON = {
    400: "Invalid input (each error names its `field`)",
    401: "No token, or an invalid, expired or tampered one",
    404: "Not found (unknown or malformed id)",
    413: "Request body too large",
    414: "Request line too long (the web server's limit: 4094 bytes)",
    415: "The body is not `application/json`",
    431: "Request headers too large (the web server's limit: 8190 bytes each)",
}
METHODS = ("get", "put", "post", "patch", "delete")


def _common_codes(method: str, operation: dict[str, Any]) -> list[int]:
    """What any operation may answer besides its own codes. The web server itself refuses a
    malformed request (400), a request line (414) or a header (431) too long, on any path;
    any body may be too large (413), even one the operation reads raw (the Stripe webhook)."""
    parameters = operation.get("parameters", [])
    codes = [400, 414, 431]
    if any(requirement for requirement in operation.get("security", [])):
        codes.append(401)
    if any(p.get("in") == "path" for p in parameters):
        codes.append(404)
    if method in ("post", "put", "patch"):
        codes.append(413)
    if "requestBody" in operation:
        codes.append(415)
    return codes


def error_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for method in METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for code in _common_codes(method, operation):
                responses.setdefault(str(code), {"description": COMMON[code]})
            for code, response in responses.items():
                if code[0] in "45" and "content" not in response:
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
    return result


class MoneySchemaMixin:
    """A serializer field of money: a string with two decimals out, a number or a decimal string in.

    ``money_input_pattern``, ``money_minimum`` (and ``money_exclusive_minimum``) and
    ``money_maximum`` say what the field takes; :class:`MoneyFieldExtension` writes them.
    """

    money_input_pattern = rf"^\d{{1,{MAX_DIGITS - 2}}}(\.\d{{1,2}})?$"
    money_minimum: float | None = 0
    money_exclusive_minimum = False
    money_maximum: float | None = None


def money_input_schema(field: MoneySchemaMixin) -> dict[str, Any]:
    number: dict[str, Any] = {"type": "number"}
    if field.money_minimum is not None:
        number["minimum"] = field.money_minimum
        if field.money_exclusive_minimum:
            number["exclusiveMinimum"] = True  # OpenAPI 3.0: a flag on ``minimum``
    if field.money_maximum is not None:
        number["maximum"] = field.money_maximum
    return {
        "anyOf": [{"type": "string", "pattern": field.money_input_pattern, "example": "20.00"}, number],
        "description": "Money: a decimal string or a number, at most two decimal places.",
    }


class MoneyStringField(MoneySchemaMixin, serializers.DecimalField):
    """Money in an answer: ``"20.00"`` (the suite's one precision), a string in the document too."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, coerce_to_string=True, **kwargs)


class MoneyFieldExtension(OpenApiSerializerFieldExtension):
    target_class = MoneySchemaMixin
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        if direction == "response" or getattr(self.target, "read_only", False):
            return dict(MONEY_SCHEMA)
        schema = money_input_schema(self.target)
        if getattr(self.target, "allow_null", False):
            schema["anyOf"].append({"type": "null"})
        return schema
