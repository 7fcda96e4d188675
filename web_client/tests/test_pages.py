"""Health, error pages, static assets, and what runs without a database."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from storefront.clients.tickets import TicketsClient
from tests.conftest import TICKETS, page_json


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_readyz_is_503_when_redis_does_not_answer(client, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from storefront.views import health

    def refuse(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(health.cache, "set", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"errors": [{"message": "Redis unreachable"}]}


def test_migrate_is_a_harmless_no_op():
    out = StringIO()
    call_command("migrate", "--noinput", stdout=out)
    assert "nothing to migrate" in out.getvalue()


def test_an_unknown_page_is_the_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<title>Page not found · Ticket Market</title>" in html
    assert 'href="/">Back to the tickets</a>' in html


@pytest.mark.parametrize("path", ["/no/such/page", "/tickets/not-a-uuid", "/orders/not-a-uuid"])
def test_unknown_urls_get_the_friendly_404_even_in_debug(client, settings, path):
    settings.DEBUG = True  # as under make dev, where Django would show its URL list

    response = client.get(path)

    assert response.status_code == 404
    html = response.content.decode()
    assert "<title>Page not found · Ticket Market</title>" in html
    assert "URLconf" not in html


def test_a_crash_is_the_friendly_500_without_a_stack_trace(monkeypatch):
    def explode(self, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(TicketsClient, "list_available", explode)
    client = Client(raise_request_exception=False)

    response = client.get("/")

    assert response.status_code == 500
    html = response.content.decode()
    assert "<title>Something went wrong · Ticket Market</title>" in html
    assert "kaboom" not in html and "Traceback" not in html


def test_every_asset_is_served_from_our_own_static_files(client, api):
    api.get(f"{TICKETS}/api/tickets", json=page_json([]))
    html = client.get("/").content.decode()

    assets = re.findall(r'<(?:link|script|img)[^>]+(?:href|src)="([^"]+)"', html)
    assert assets
    assert all(url.startswith("/static/") for url in assets), assets
    for url in assets:
        response = client.get(url)
        b"".join(response.streaming_content)
        response.close()
        assert response.status_code == 200, url


def static_file(client: Client, path: str) -> bytes:
    response = client.get(f"/static/storefront/{path}")
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    response.close()
    return content


def test_bootstrap_ships_with_its_licence(client):
    css = static_file(client, "vendor/bootstrap-5.3.8/bootstrap.min.css")
    assert css.startswith(b'@charset "UTF-8";/*!\n * Bootstrap  v5.3.8')
    assert b"MIT License" in static_file(client, "vendor/bootstrap-5.3.8/LICENSE")


def test_pages_are_made_for_phones_too(client, api):
    api.get(f"{TICKETS}/api/tickets", json=page_json([]))
    html = client.get("/").content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert 'class="navbar-toggler"' in html
    assert 'href="#main">Skip to content</a>' in html


def test_every_page_says_so_when_payments_go_to_the_stripe_test_double(client, api, settings):
    api.get(f"{TICKETS}/api/tickets", json=page_json([]))
    assert 'data-testid="test-mode"' not in client.get("/").content.decode()
    settings.STRIPE_TEST_MODE = True
    api.get(f"{TICKETS}/api/tickets", json=page_json([]))
    html = client.get("/").content.decode()
    assert 'data-testid="test-mode"' in html
    assert "payments go to a Stripe test double. No card is charged" in html
