"""Operators: one staff account for every admin, and one request id across services."""

import os
import re
import uuid
from pathlib import Path

import pytest
import requests

from conftest import eventually, service_url

BACKENDS = [("auth", 8001), ("tickets", 8002), ("orders", 8003), ("payments", 8004), ("expiration", 8005)]


def admin_login(base_url: str, email: str, password: str) -> requests.Session:
    """Signs in through the admin's own login form, CSRF and all, like a browser."""
    browser = requests.Session()
    form = browser.get(f"{base_url}/admin/login/")
    assert form.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    browser.post(
        f"{base_url}/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": email, "password": password, "next": "/admin/"},
        headers={"Referer": f"{base_url}/admin/login/"},
    )
    return browser


def in_admin(browser: requests.Session, base_url: str) -> bool:
    response = browser.get(f"{base_url}/admin/", allow_redirects=False)
    return response.status_code == 200 and "Log out" in response.text


@pytest.fixture(scope="module")
def operator() -> tuple[str, str]:
    return os.environ.get("E2E_OPERATOR_EMAIL", "operator@example.com"), os.environ.get(
        "E2E_OPERATOR_PASSWORD", "operator-dev-password"
    )


@pytest.mark.parametrize(("service", "port"), BACKENDS)
def test_the_operator_enters_every_admin_with_one_account(service, port, operator):
    base_url = service_url(service, port)

    assert in_admin(admin_login(base_url, *operator), base_url)


@pytest.mark.parametrize(("service", "port"), BACKENDS)
def test_a_wrong_password_and_a_regular_user_stay_out(service, port, operator, new_user):
    base_url = service_url(service, port)
    user = new_user()

    assert not in_admin(admin_login(base_url, operator[0], "not-the-password"), base_url)
    assert not in_admin(admin_login(base_url, user.email, "Plenty-Of-Entropy-42"), base_url)
    # the right password still works, and clears the failure that sign-in throttling counted
    assert in_admin(admin_login(base_url, *operator), base_url)


def test_a_request_id_follows_a_reservation_into_the_tickets_consumer(new_user, tickets_url, orders_url):
    log_dir = os.environ.get("E2E_LOG_DIR")
    if not log_dir:
        pytest.skip("needs the stack's log files (make test)")
    seller, buyer = new_user(), new_user()
    ticket = seller.http.post(f"{tickets_url}/api/tickets", json={"title": "Traced", "price": "9.00"}).json()
    request_id = f"e2e-{uuid.uuid4().hex}"

    def reserve():
        response = buyer.http.post(f"{orders_url}/api/orders", json={"ticket_id": ticket["id"]},
                                   headers={"X-Request-ID": request_id})
        return None if response.status_code == 404 else response

    response = eventually(reserve, what="the ticket to reach the orders service")
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == request_id
    consumer_log = Path(log_dir) / "tickets.consumer.log"
    line = eventually(
        lambda: next((line for line in consumer_log.read_text().splitlines() if request_id in line), None),
        what=f"{request_id} in {consumer_log}",
    )
    assert "order.created" in line
