"""Event handlers, registered per event type by each service's ``handlers.py``."""

from __future__ import annotations

import datetime as dt
import functools
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


def handles(topic: str | type[Any]) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register the decorated function as the handler of a topic.

    With a schema class (``@handles(TicketCreated)``) the function receives the event's
    validated data, and data that fails the schema is a :class:`PoisonMessage`; with a
    topic name it receives the raw :class:`Event` (the library's own tests).
    """

    def register(func: Callable[[Any], None]) -> Callable[[Any], None]:
        if isinstance(topic, str):
            event_type, handler = topic, func
        else:
            schema = topic
            event_type = schema.topic

            @functools.wraps(func)
            def handler(event: Event) -> None:
                func(schema.from_event(event))

        existing = _handlers.get(event_type)
        if existing is not None and getattr(existing, "__wrapped__", existing) is not func:
            raise RuntimeError(f"Two handlers for {event_type}: {existing} and {func}")
        _handlers[event_type] = handler
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
