"""The event contract as documents: an AsyncAPI 3 file and a page for people.

Both are generated from :mod:`ticketing_shared.events.schemas`, so they cannot drift
from the code: ``make docs`` writes them, and the shared library's tests fail when the
files in ``docs/`` differ from what the schemas say.

    python -m ticketing_shared.events.asyncapi --write docs/
    python -m ticketing_shared.events.asyncapi --check docs/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from ticketing_shared.events.schemas import SCHEMAS, EventData

ASYNCAPI_FILE = "asyncapi.yaml"
EVENTS_PAGE = "events.md"
REF = "#/components/schemas/{model}"


def _schema(model: type[EventData], definitions: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of what producers write (money as strings), nested models hoisted."""
    schema = model.model_json_schema(mode="serialization", ref_template=REF)
    definitions.update(schema.pop("$defs", {}))
    return schema


def build_asyncapi() -> dict[str, Any]:
    definitions: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic, model in SCHEMAS.items():
        name = model.__name__
        definitions[name] = _schema(model, definitions)
        messages[name] = {
            "name": topic,
            "title": name,
            "summary": model.summary,
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/Headers"},
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/Envelope"},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": topic},
                            "source": {"const": model.source},
                            "data": {"$ref": REF.format(model=name)},
                        },
                    },
                ]
            },
            "bindings": {"kafka": {"key": {"type": "string", "description": f"The data's `{model.key_field}`."}}},
        }
        channels[topic] = {
            "address": topic,
            "description": f"{model.summary} Keyed by `{model.key_field}`, so one "
            f"{model.aggregate_type}'s events stay in order.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"{model.source}.send.{topic}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
            "summary": f"The {model.source} service publishes it through its outbox.",
            "messages": [{"$ref": f"#/channels/{topic}/messages/{name}"}],
        }
        for consumer in model.consumers:
            operations[f"{consumer}.receive.{topic}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{topic}"},
                "summary": f"The {consumer} service applies it (once per event id).",
                "messages": [{"$ref": f"#/channels/{topic}/messages/{name}"}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Ticketing events",
            "version": "1.0.0",
            "description": "Events between the ticketing services. Generated from "
            "libs/ticketing_shared/ticketing_shared/events/schemas.py: do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {
                "Envelope": {
                    "type": "object",
                    "required": ["id", "type", "occurred_at", "source", "data"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid", "description": "The event id; consumers "
                               "apply each id once."},
                        "type": {"type": "string", "description": "The event type, also the topic."},
                        "occurred_at": {"type": "string", "format": "date-time"},
                        "source": {"type": "string", "description": "The service that owns the topic."},
                        "data": {"type": "object"},
                    },
                },
                "Headers": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "format": "uuid", "description": "The event id."},
                        "type": {"type": "string", "description": "The event type."},
                        "request_id": {"type": "string", "description": "The HTTP request that caused it."},
                    },
                },
                **dict(sorted(definitions.items())),
            },
        },
    }


def _type_of(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " or ".join(_type_of(option) for option in prop["anyOf"])
    if "enum" in prop:
        return " \\| ".join(f"`{value}`" for value in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "null":
        return "null"
    if "pattern" in prop and kind == "string":
        return "money (string)"
    return prop.get("format", kind) if kind == "string" else kind


def _fields_table(schema: dict[str, Any]) -> list[str]:
    rows = ["| field | type | required | meaning |", "| --- | --- | --- | --- |"]
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        meaning = prop.get("description", "")
        rows.append(f"| `{name}` | {_type_of(prop)} | {'yes' if name in required else 'no'} | {meaning} |")
    return rows


def build_events_page() -> str:
    definitions: dict[str, Any] = {}
    lines = [
        "# Events",
        "",
        "Generated from `libs/ticketing_shared/ticketing_shared/events/schemas.py` by `make docs`;",
        "the machine-readable form is [`asyncapi.yaml`](asyncapi.yaml) (AsyncAPI 3). Do not edit by hand.",
        "",
        "Every event is a UTF-8 JSON envelope `{id, type, occurred_at, source, data}` on the topic",
        "named as its type, keyed by its aggregate's id; the headers repeat `id` and `type` and",
        "carry the `request_id` of the HTTP request that caused it. Money is a string with two",
        "decimals. Consumers ignore fields they do not know, and refuse (dead-letter) an event whose",
        "data does not match its schema or whose `source` is not the service that owns the topic.",
        "",
        "| type | published by | consumed by | key |",
        "| --- | --- | --- | --- |",
    ]
    for topic, model in SCHEMAS.items():
        consumers = ", ".join(model.consumers) or "-"
        lines.append(f"| [`{topic}`](#{topic.replace('.', '')}) | {model.source} | {consumers} | "
                     f"`{model.key_field}` |")
    for topic, model in SCHEMAS.items():
        schema = _schema(model, definitions)
        lines += ["", f"## {topic}", "", model.summary, "", *_fields_table(schema)]
    for name, schema in sorted(definitions.items()):
        lines += ["", f"### {name}", "", *_fields_table(schema)]
    return "\n".join(lines) + "\n"


def rendered() -> dict[str, str]:
    """File name -> content, as they should be in ``docs/``."""
    return {
        ASYNCAPI_FILE: yaml.safe_dump(build_asyncapi(), sort_keys=False, allow_unicode=True, width=100),
        EVENTS_PAGE: build_events_page(),
    }


def stale(folder: Path) -> list[str]:
    """The generated files in ``folder`` that are missing or differ from the schemas."""
    return [name for name, text in rendered().items()
            if not (folder / name).exists() or (folder / name).read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, metavar="FOLDER", help="write the documents into FOLDER")
    action.add_argument("--check", type=Path, metavar="FOLDER", help="exit 1 when FOLDER's copies are out of date")
    args = parser.parse_args(argv)
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        for name, text in rendered().items():
            (args.write / name).write_text(text)
            print(f"wrote {args.write / name}")
        return 0
    outdated = stale(args.check)
    for name in outdated:
        print(f"{args.check / name} is out of date: run `make docs`", file=sys.stderr)
    return 1 if outdated else 0


if __name__ == "__main__":
    sys.exit(main())
