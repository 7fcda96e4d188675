"""End-to-end tests: the running stack, driven over HTTP from outside.

`make test` starts the whole suite on the test ports and exports the URLs;
running these by hand against `make dev` works too (`E2E_AUTH_URL=http://127.0.0.1:8001 pytest e2e`).
"""

from __future__ import annotations

import os
import uuid

import pytest
import requests


def service_url(name: str, default_port: int) -> str:
    return os.environ.get(f"E2E_{name.upper()}_URL", f"http://127.0.0.1:{default_port}").rstrip("/")


@pytest.fixture(scope="session")
def auth_url() -> str:
    return service_url("auth", 8001)


@pytest.fixture
def http() -> requests.Session:
    session = requests.Session()
    session.headers["Accept"] = "application/json"
    return session


@pytest.fixture
def new_email() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture
def signed_up(http, auth_url, new_email) -> dict:
    response = http.post(f"{auth_url}/api/users/signup", json={"email": new_email, "password": "Plenty-Of-Entropy-42"})
    assert response.status_code == 201, response.text
    return {**response.json(), "password": "Plenty-Of-Entropy-42"}
