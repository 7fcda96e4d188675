"""A pooled keep-alive connection the service closed: calls that are safe to send again are sent
again on a new connection, with the same Idempotency-Key; others fail as "unavailable"."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from storefront.clients import base
from storefront.clients.base import ServiceClient, ServiceUnavailable
from storefront.clients.orders import OrdersClient
from tests.conftest import new_id, order_json


class Credentials:
    access = "access-1"

    def refresh(self, rejected_access: str) -> str:
        raise AssertionError("no 401 here")


class Service(ThreadingHTTPServer):
    """Answers the first request (the client keeps that connection alive), then closes the
    connection of each next request without an answer, ``drops`` times: what a client sees when
    it reuses a connection the server has just closed as idle (and, with many drops, a service
    that keeps failing)."""

    daemon_threads = True

    def __init__(self, drops: int) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.drops = drops
        self.answered = 0
        self.received: list[tuple[str, str, str | None]] = []  # method, path, Idempotency-Key
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: Service

    def log_message(self, *args) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        with self.server.lock:
            self.server.received.append((self.command, self.path, self.headers.get("Idempotency-Key")))
            drop = self.server.answered > 0 and self.server.drops > 0
            if drop:
                self.server.drops -= 1
            else:
                self.server.answered += 1
        if drop:
            self.close_connection = True  # closed without a word, as an idle connection is
            return
        payload = json.dumps(order_json(ticket={"id": body["ticket_id"], "title": "T", "price": "20.00"})
                             if body else order_json()).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer


@pytest.fixture
def service(settings, request) -> Iterator[Service]:
    server = Service(drops=getattr(request, "param", 1))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SERVICE_URLS = {**settings.SERVICE_URLS, "orders": server.url}
    base._local.__dict__.clear()  # a pool of this test's own
    yield server
    server.shutdown()
    server.server_close()


def test_a_reservation_on_a_closed_connection_is_sent_again_with_the_same_key(service):
    orders = OrdersClient(Credentials())
    orders.get(new_id())  # opens the kept-alive connection
    ticket_id = new_id()

    order = orders.create(ticket_id=ticket_id, expected_total=Decimal("20.00"))

    assert order.ticket.id == ticket_id
    posts = [(path, key) for method, path, key in service.received if method == "POST"]
    assert len(posts) == 2  # the one lost with the connection, and the one answered
    assert posts[0][1] and posts[0] == posts[1]  # the very same request: one key


def test_a_get_on_a_closed_connection_is_sent_again(service):
    orders = OrdersClient(Credentials())
    order_id = new_id()
    orders.get(order_id)

    assert orders.get(order_id).id
    assert [method for method, _, _ in service.received] == ["GET", "GET", "GET"]


def test_a_post_without_a_key_is_not_sent_twice(service):
    client = ServiceClient(Credentials())
    client.service = "orders"
    client.request("GET", "/api/orders/x", authenticated=True)

    with pytest.raises(ServiceUnavailable):
        client.request("POST", "/api/orders", json={"ticket_id": new_id()}, authenticated=True)

    assert [method for method, _, _ in service.received] == ["GET", "POST"]


@pytest.mark.parametrize("service", [5], indirect=True)
def test_a_service_that_keeps_dropping_is_unavailable_after_a_few_tries(service):
    orders = OrdersClient(Credentials())
    orders.get(new_id())

    with pytest.raises(ServiceUnavailable):
        orders.get(new_id())

    assert len(service.received) == 1 + 1 + base.CONNECTION_RETRIES
