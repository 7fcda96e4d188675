import threading
import uuid

import pytest

from tests.project.demo.models import AppliedLog, Widget
from ticketing_shared.events.consumer import ConsumerRunner
from ticketing_shared.events.models import ProcessedEvent
from ticketing_shared.events.registry import Event
from ticketing_shared.testing.helpers import wait_for
from ticketing_shared.versioning import replica_apply


def widget_created(event: Event) -> None:
    AppliedLog.objects.create(event_id=event.id, type=event.type, version=event.data["version"])
    Widget.objects.get_or_create(
        id=event.data["id"], defaults={"name": event.data["name"], "version": event.data["version"]}
    )


def widget_updated(event: Event) -> None:
    AppliedLog.objects.create(event_id=event.id, type=event.type, version=event.data["version"])
    replica_apply(Widget, pk=event.data["id"], version=event.data["version"], values={"name": event.data["name"]})


@pytest.fixture
def topics():
    """Topic names of their own for each test: old messages never leak in."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    return {"created": f"{prefix}.widget.created", "updated": f"{prefix}.widget.updated", "prefix": prefix}


@pytest.fixture
def run_consumer(kafka_broker, topics):
    """Start a consumer for the test's topics in a thread; stopped after the test."""
    runners: list[tuple[ConsumerRunner, threading.Thread]] = []

    def start(handlers=None, **options) -> ConsumerRunner:
        handlers = handlers or {topics["created"]: widget_created, topics["updated"]: widget_updated}
        runner = ConsumerRunner(handlers=handlers, group_id=f"group-{topics['prefix']}", **options)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        runners.append((runner, thread))
        return runner

    yield start
    for runner, thread in runners:
        runner.stop()
        thread.join(20)
        assert not thread.is_alive(), "consumer did not stop"




__all__ = ["AppliedLog", "ProcessedEvent", "Widget", "wait_for"]
