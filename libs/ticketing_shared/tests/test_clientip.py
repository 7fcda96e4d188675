"""The client behind our proxies: ``ticketing_shared.clientip``, its setting, and admin sign-in's use of it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from ticketing_shared import clientip
from ticketing_shared.conf import trusted_proxies

WEB_CLIENT = "10.1.0.7"  # a pod of ours
INGRESS = "10.1.0.2"  # another
BROWSER = "203.0.113.9"


@pytest.fixture(autouse=True)
def _pods_are_trusted(settings) -> None:
    settings.TRUSTED_PROXIES = ["10.1.0.0/16", "2001:db8:ffff::/48"]


def address(remote_addr: str, forwarded_for: str | None = None) -> str:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    return clientip.client_address(RequestFactory().get("/", REMOTE_ADDR=remote_addr, **extra))


def test_a_trusted_proxy_is_believed_about_its_client():
    assert address(WEB_CLIENT, BROWSER) == BROWSER


def test_an_untrusted_peer_cannot_choose_its_address():
    assert address(BROWSER, "198.51.100.1") == BROWSER


def test_only_the_right_most_untrusted_address_counts():
    """What the browser wrote itself (left of what our proxies appended) is ignored."""
    assert address(WEB_CLIENT, f"198.51.100.1, 192.0.2.4, {BROWSER}, {INGRESS}") == BROWSER


def test_without_a_forwarded_header_the_peer_is_the_client():
    assert address(WEB_CLIENT) == WEB_CLIENT
    assert address(WEB_CLIENT, " , ") == WEB_CLIENT


def test_a_chain_of_trusted_proxies_only_names_its_furthest_one():
    assert address(WEB_CLIENT, f"{INGRESS}, 10.1.9.9") == INGRESS


def test_garbage_from_a_trusted_proxy_stops_the_walk_at_that_proxy():
    assert address(WEB_CLIENT, f"{BROWSER}, unknown, {INGRESS}") == INGRESS


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("203.0.113.9:51234", BROWSER),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("2001:db8::7", "2001:db8::7"),
        ("::ffff:203.0.113.9", BROWSER),
    ],
)
def test_addresses_are_read_as_proxies_write_them(forwarded, expected):
    assert address(WEB_CLIENT, forwarded) == expected


def test_ipv6_and_ipv4_mapped_peers_are_matched_against_the_networks():
    assert address("2001:db8:ffff::5", BROWSER) == BROWSER
    assert address("::ffff:10.1.0.7", BROWSER) == BROWSER
    assert address("2001:db8:1::5", BROWSER) == "2001:db8:1::5"


def test_nobody_is_trusted_when_the_setting_is_empty(settings):
    settings.TRUSTED_PROXIES = []

    assert address(WEB_CLIENT, BROWSER) == WEB_CLIENT


def test_a_peer_that_is_no_address_is_taken_as_it_is():
    assert clientip.address_from_meta({"REMOTE_ADDR": "", "HTTP_X_FORWARDED_FOR": BROWSER}) == ""


def test_the_chain_sent_onwards_is_what_came_in_plus_our_peer():
    assert clientip.forwarded_for({"REMOTE_ADDR": INGRESS, "HTTP_X_FORWARDED_FOR": f" {BROWSER} ,"}) == (
        f"{BROWSER}, {INGRESS}"
    )
    assert clientip.forwarded_for({"REMOTE_ADDR": BROWSER}) == BROWSER
    assert clientip.forwarded_for({}) == ""


# the setting


def test_development_trusts_loopback_and_production_nobody(monkeypatch):
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)

    assert trusted_proxies(dev=True) == ["127.0.0.1/32", "::1/128"]
    assert trusted_proxies(dev=False) == []


def test_the_setting_takes_networks_and_single_addresses(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,,fd00::/8")

    assert trusted_proxies(dev=False) == ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]
    monkeypatch.setenv("TRUSTED_PROXIES", "")
    assert trusted_proxies(dev=True) == []  # set but empty: trust nobody, even in development


def test_a_mistyped_network_stops_start_up(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8,10.0.0.300")

    with pytest.raises(ImproperlyConfigured, match=r"10\.0\.0\.300"):
        trusted_proxies(dev=False)


# admin sign-in names the operator's address to the auth service


class RecordingAuthService(BaseHTTPRequestHandler):
    """Refuses every sign-in, remembering the X-Forwarded-For it was sent."""

    seen: list[str | None] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(self.headers.get("X-Forwarded-For"))
        payload = b'{"errors": [{"message": "Invalid credentials"}]}'
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def recording_auth_service(settings) -> Iterator[list[str | None]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingAuthService)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.AUTH_SERVICE_URL = f"http://127.0.0.1:{server.server_port}"
    RecordingAuthService.seen = []
    yield RecordingAuthService.seen
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_admin_sign_in_forwards_the_operators_address(client, recording_auth_service):
    client.post("/admin/login/", {"username": "ops@example.com", "password": "wrong"},
                REMOTE_ADDR=INGRESS, HTTP_X_FORWARDED_FOR="198.51.100.20")

    assert recording_auth_service == [f"198.51.100.20, {INGRESS}"]


@pytest.mark.django_db
def test_admin_sign_in_without_a_request_forwards_nothing(recording_auth_service):
    from django.contrib.auth import authenticate

    assert authenticate(None, username="ops@example.com", password="wrong") is None
    assert recording_auth_service == [None]
