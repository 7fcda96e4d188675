"""Event handlers, registered per event type by each service's ``handlers.py``."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[["Event"], None]

_handlers: dict[str, Handler] = {}


class RetryLater(Exception):
    """The event cannot be applied yet (it came before the version it builds on)."""


class PoisonMessage(Exception):
    """The message can never be applied: unparseable or of an unknown schema."""


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    occurred_at: str
    source: str
    data: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: bytes | str | None, headers: dict[str, str] | None = None) -> Event:
        """Validate the envelope; anything malformed is a :class:`PoisonMessage`."""
        if value is None:
            raise PoisonMessage("Empty message")
        try:
            envelope = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PoisonMessage(f"Not JSON: {exc}") from exc
        if not isinstance(envelope, dict):
            raise PoisonMessage("Envelope is not a JSON object")
        missing = [name for name in ("id", "type", "data") if name not in envelope]
        if missing:
            raise PoisonMessage(f"Envelope lacks {', '.join(missing)}")
        try:
            event_id = str(uuid.UUID(str(envelope["id"])))
        except ValueError as exc:
            raise PoisonMessage("Envelope id is not a UUID") from exc
        if not isinstance(envelope["type"], str) or not isinstance(envelope["data"], dict):
            raise PoisonMessage("Envelope type must be a string and data an object")
        return cls(
            id=event_id,
            type=envelope["type"],
            occurred_at=str(envelope.get("occurred_at") or dt.datetime.now(dt.UTC).isoformat()),
            source=str(envelope.get("source") or ""),
            data=envelope["data"],
            headers=headers or {},
        )


def validated(event: Event, schema: type[Any]) -> dict[str, Any]:
    """``event.data`` checked by a DRF serializer class; data that can never be applied is a
    :class:`PoisonMessage` (dead-lettered, not retried)."""
    serializer = schema(data=event.data)
    if not serializer.is_valid():
        raise PoisonMessage(f"{event.type} {event.id} does not match its schema: {serializer.errors}")
    return serializer.validated_data


def handles(event_type: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``event_type``."""

    def register(func: Handler) -> Handler:
        existing = _handlers.get(event_type)
        if existing is not None and existing is not func:
            raise RuntimeError(f"Two handlers for {event_type}: {existing} and {func}")
        _handlers[event_type] = func
        return func

    return register


def handler_for(event_type: str) -> Handler | None:
    return _handlers.get(event_type)


def registered_types() -> list[str]:
    return sorted(_handlers)


def discover_handlers() -> list[str]:
    """Import every installed app's ``handlers`` module."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("handlers")
    return registered_types()
