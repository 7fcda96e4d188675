"""Fired expirations really reach Kafka, in the event envelope of docs/events.md."""

import pytest

from expirations import services
from tests.factories import ExpirationFactory, due
from ticketing_shared.events.relay import relay_outbox

pytestmark = pytest.mark.django_db


def read_until(reader, keys: set[str], timeout: float = 20.0) -> dict[str, dict]:
    """The topic may hold messages of earlier runs: collect ours by key."""
    import time

    found: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while set(found) != keys and time.monotonic() < deadline:
        for message in reader.read(1, timeout=1.0):
            if message["key"] in keys:
                assert message["key"] not in found, f"published twice: {message}"
                found[message["key"]] = message
    return found


def test_fired_expirations_are_published_to_kafka_as_expiration_complete(kafka_broker, kafka_reader):
    expirations = ExpirationFactory.create_batch(3, **due())
    ExpirationFactory()  # ahead: not published
    assert services.expirations_fire_due() == 3

    assert relay_outbox() == 3

    keys = {str(expiration.order_id) for expiration in expirations}
    messages = read_until(kafka_reader("expiration.complete"), keys)
    assert set(messages) == keys
    for order_id, message in messages.items():
        assert message["topic"] == "expiration.complete"
        envelope = message["value"]
        assert set(envelope) == {"id", "type", "occurred_at", "source", "data"}
        assert envelope["type"] == "expiration.complete"
        assert envelope["source"] == "expiration"
        assert envelope["data"] == {"order_id": order_id}
        assert message["headers"]["id"] == envelope["id"]
        assert message["headers"]["type"] == "expiration.complete"
    assert relay_outbox() == 0
