"""Tokens verified through the auth service's JWKS (``JWT_JWKS_URL``, what the chart configures),
against a local HTTP server standing in for the auth service, which the tests stop and slow down."""

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from jwt.algorithms import RSAAlgorithm
from rest_framework.test import APIClient

from ticketing_shared import auth
from ticketing_shared.conf import public_key_of


class SigningKey:
    """An RS256 key pair as the auth service holds it: tokens name it by its ``kid``."""

    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode()
        public_pem = public_key_of(self.private_pem)
        self.kid = auth.signing_key_id(public_pem)
        self.jwk = {**RSAAlgorithm.to_jwk(RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(public_pem), as_dict=True),
                    "kid": self.kid, "use": "sig", "alg": "RS256"}

    def token(self, *, kid: str | None = None) -> str:
        now = datetime.now(UTC)
        claims = {"token_type": "access", "user_id": str(uuid.uuid4()), "email": "a@example.com",
                  "jti": uuid.uuid4().hex, "iat": now, "exp": now + timedelta(minutes=5),
                  "iss": settings.SIMPLE_JWT["ISSUER"]}
        return jwt.encode(claims, self.private_pem, algorithm="RS256", headers={"kid": kid or self.kid})


class JwksServer:
    """Serves ``{"keys": [...]}`` like the auth service's /api/users/jwks.json; counts fetches."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.fetches += 1
                time.sleep(outer.delay)
                payload = json.dumps({"keys": [key.jwk for key in outer.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # a slowed-down answer must not hold up the test's end
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/users/jwks.json"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def key() -> SigningKey:
    return SigningKey()


@pytest.fixture
def auth_service(settings, key):
    """This service verifying through the JWKS of a running auth service: keys stale after 0.2 s."""
    server = JwksServer(key)
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "VERIFYING_KEY": "", "JWK_URL": server.url}
    settings.JWT_JWKS_CACHE_SECONDS = 0.2
    settings.JWT_JWKS_TIMEOUT_SECONDS = 3.0
    auth.verifying_backend().jwks_client.min_interval = 0.1  # retry a failed refresh quickly
    yield server
    server.stop()


def whoami(token: str) -> tuple[int, float]:
    """Status and seconds of an authenticated API call."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    started = time.monotonic()
    status = client.get("/api/demo/whoami").status_code
    return status, time.monotonic() - started


def test_valid_tokens_still_verify_after_the_auth_service_stops(auth_service, key):
    assert whoami(key.token())[0] == 200
    auth_service.stop()
    time.sleep(0.3)  # the keys are past their age: refreshes are tried, and fail

    for _ in range(5):
        assert whoami(key.token())[0] == 200
        time.sleep(0.15)


def test_no_request_waits_on_a_refresh_once_the_keys_are_known(auth_service, key):
    assert whoami(key.token())[0] == 200
    auth_service.delay = 2.5  # the auth service hangs from now on
    time.sleep(0.3)
    results: list[tuple[int, float]] = []

    def call() -> None:
        results.append(whoami(key.token()))

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert [status for status, _ in results] == [200] * 20
    assert max(seconds for _, seconds in results) < 1.0  # none waited for the 2.5 s answer
    assert auth_service.fetches == 2  # the first fetch, then one refresh in the background for all 20


def test_a_refresh_replaces_the_keys_once_the_auth_service_answers(auth_service, key):
    assert whoami(key.token())[0] == 200
    rotated = SigningKey()
    auth_service.keys = [rotated]
    time.sleep(0.3)
    assert whoami(key.token())[0] == 200  # served from the cache while the refresh runs

    wait = time.monotonic() + 5
    while whoami(key.token())[0] == 200 and time.monotonic() < wait:
        time.sleep(0.05)
    assert whoami(key.token())[0] == 401  # the key the auth service dropped is gone
    assert whoami(rotated.token())[0] == 200


def test_a_new_key_id_costs_one_fetch_and_made_up_ones_cannot_hammer_the_auth_service(auth_service, key):
    assert whoami(key.token())[0] == 200
    rotated = SigningKey()
    auth_service.keys = [key, rotated]
    time.sleep(0.15)

    assert whoami(rotated.token())[0] == 200  # never seen: fetched at once
    fetches = auth_service.fetches
    auth.verifying_backend().jwks_client.min_interval = 30.0
    stranger = SigningKey()
    assert [whoami(stranger.token(kid=uuid.uuid4().hex))[0] for _ in range(20)] == [401] * 20
    assert auth_service.fetches - fetches <= 1


def test_without_keys_and_without_the_auth_service_tokens_are_refused_within_the_timeout(auth_service, key):
    auth_service.stop()

    status, seconds = whoami(key.token())

    assert status == 401
    assert seconds < settings.JWT_JWKS_TIMEOUT_SECONDS + 1
