"""Password reset throttling: a few emails per address, a 429 for a client asking too often."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from django.core import mail
from django.test import RequestFactory, override_settings

from accounts import throttling

pytestmark = pytest.mark.django_db

WEB_CLIENT = "127.0.0.1"  # trusted in development and tests (TRUSTED_PROXIES)
ATTACKER = "203.0.113.66"
ANN_BROWSER = "198.51.100.7"
BOB_BROWSER = "192.0.2.10"
LIMITED = "Too many password reset requests. Try again in"


def ask(api_client, email="ann@example.com", *, browser=ANN_BROWSER, via=WEB_CLIENT):
    """A reset request from ``browser``, through ``via`` (the web client by default), as it forwards it."""
    return api_client.post("/api/users/password/reset", {"email": email}, format="json",
                           REMOTE_ADDR=via, HTTP_X_FORWARDED_FOR=browser)


def random_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


def answer(response) -> tuple[int, bytes, str | None]:
    return response.status_code, response.content, response.get("Retry-After")


# per address: the same 202, no more emails


def test_the_fourth_request_for_one_address_sends_nothing_and_still_answers_202(api_client, signup):
    signup()
    spellings = ["ann@example.com", " ANN@example.com", "Ann@Example.com", "ann@example.com"]

    answers = [answer(ask(api_client, email, browser=f"198.51.100.{n}")) for n, email in enumerate(spellings, 1)]

    assert answers == [(202, b"", None)] * 4
    assert [message.to for message in mail.outbox] == [["ann@example.com"]] * 3


def test_an_unknown_address_gets_the_same_answers_under_the_throttle(api_client, signup):
    signup()

    known = [answer(ask(api_client, "ann@example.com")) for _ in range(5)]
    unknown = [answer(ask(api_client, "nobody@example.com", browser=BOB_BROWSER)) for _ in range(5)]

    assert known == unknown == [(202, b"", None)] * 5
    assert len(mail.outbox) == 3
    assert {tuple(message.to) for message in mail.outbox} == {("ann@example.com",)}


def test_one_address_being_throttled_does_not_hold_back_another(api_client, signup):
    signup()
    signup("bob@example.com")
    for _ in range(4):
        ask(api_client, "ann@example.com", browser=ATTACKER)

    assert ask(api_client, "bob@example.com").status_code == 202
    assert [message.to for message in mail.outbox] == [["ann@example.com"]] * 3 + [["bob@example.com"]]


@override_settings(PASSWORD_RESET_THROTTLE={"MAX_EMAILS_PER_EMAIL": 3, "MAX_REQUESTS_PER_CLIENT": 1000,
                                            "WINDOW_SECONDS": 600})
def test_concurrent_requests_for_one_address_allow_exactly_the_limit():
    requests = [RequestFactory().post("/api/users/password/reset", REMOTE_ADDR=f"198.51.100.{n}") for n in range(24)]

    with ThreadPoolExecutor(8) as pool:
        allowed = list(pool.map(lambda request: throttling.allow_reset_email(request, "ann@example.com"), requests))

    assert allowed.count(True) == 3


# per client: 429 with Retry-After


@override_settings(PASSWORD_RESET_THROTTLE={"MAX_EMAILS_PER_EMAIL": 100, "MAX_REQUESTS_PER_CLIENT": 3,
                                            "WINDOW_SECONDS": 600})
def test_a_client_over_the_limit_gets_429_with_retry_after_and_no_email(api_client, signup):
    signup()
    assert [ask(api_client, random_email(), browser=ATTACKER).status_code for _ in range(3)] == [202] * 3

    response = ask(api_client, "ann@example.com", browser=ATTACKER)

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 600
    [error] = response.json()["errors"]
    assert error["message"] == f"{LIMITED} {response['Retry-After']} seconds."
    assert error.get("field") is None
    assert mail.outbox == []


@override_settings(PASSWORD_RESET_THROTTLE={"MAX_EMAILS_PER_EMAIL": 100, "MAX_REQUESTS_PER_CLIENT": 3,
                                            "WINDOW_SECONDS": 600})
def test_another_client_is_not_affected(api_client, signup):
    signup()
    for _ in range(3):
        ask(api_client, random_email(), browser=ATTACKER)
    assert ask(api_client, "ann@example.com", browser=ATTACKER).status_code == 429

    assert ask(api_client, "ann@example.com", browser=ANN_BROWSER).status_code == 202
    assert ask(api_client, "ann@example.com", via=BOB_BROWSER, browser=ATTACKER).status_code == 202  # not a proxy
    assert [message.to for message in mail.outbox] == [["ann@example.com"]] * 2
    assert ask(api_client, random_email(), browser=ATTACKER).status_code == 429  # the attacker stays out


@override_settings(PASSWORD_RESET_THROTTLE={"MAX_EMAILS_PER_EMAIL": 100, "MAX_REQUESTS_PER_CLIENT": 3,
                                            "WINDOW_SECONDS": 600})
def test_a_made_up_forwarded_header_from_an_untrusted_peer_does_not_dodge_the_limit(api_client, signup):
    signup()
    for n in range(3):
        ask(api_client, random_email(), via=ATTACKER, browser=f"198.51.100.{n}")

    response = ask(api_client, "ann@example.com", via=ATTACKER, browser=ANN_BROWSER)

    assert response.status_code == 429
    assert mail.outbox == []


@override_settings(PASSWORD_RESET_THROTTLE={"MAX_EMAILS_PER_EMAIL": 100, "MAX_REQUESTS_PER_CLIENT": 3,
                                            "WINDOW_SECONDS": 600})
def test_an_ipv6_client_is_counted_by_its_64(api_client, signup):
    signup()
    for n in range(3):
        ask(api_client, random_email(), browser=f"2001:db8:1:2::{n + 1:x}")

    assert ask(api_client, "ann@example.com", browser="2001:db8:1:2:ffff::9").status_code == 429
    assert ask(api_client, "ann@example.com", browser="2001:db8:1:3::1").status_code == 202


def test_a_malformed_request_is_400_and_counts_nothing(api_client, signup, settings):
    settings.PASSWORD_RESET_THROTTLE = {**settings.PASSWORD_RESET_THROTTLE, "MAX_REQUESTS_PER_CLIENT": 2}
    signup()
    for _ in range(5):
        assert ask(api_client, "not-an-email", browser=ATTACKER).status_code == 400

    assert ask(api_client, "ann@example.com", browser=ATTACKER).status_code == 202
    assert len(mail.outbox) == 1


# the window


@override_settings(PASSWORD_RESET_THROTTLE={"MAX_EMAILS_PER_EMAIL": 1, "MAX_REQUESTS_PER_CLIENT": 2,
                                            "WINDOW_SECONDS": 1})
def test_the_window_passing_lets_requests_through_again(api_client, signup):
    signup()
    assert ask(api_client).status_code == 202
    assert ask(api_client).status_code == 202  # the address's one email is spent
    limited = ask(api_client)
    assert (limited.status_code, limited["Retry-After"]) == (429, "1")
    assert len(mail.outbox) == 1

    time.sleep(1.2)

    assert ask(api_client).status_code == 202
    assert len(mail.outbox) == 2


# the contract


def test_the_schema_lists_the_429(client):
    schema = yaml.safe_load(client.get("/api/users/schema/").content)

    responses = schema["paths"]["/api/users/password/reset"]["post"]["responses"]

    assert {"202", "400", "429"} <= set(responses)
    assert "Retry-After" in responses["429"]["description"]
