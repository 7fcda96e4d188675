"""Password reset: ask (202, no enumeration), follow the emailed link, confirm (docs/api.md)."""

import re
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import mail

from accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 42"
LINK = re.compile(r"(https?://\S+)/reset/([^/\s]+)/([^/\s]+)")


def ask(api_client, email="ann@example.com"):
    return api_client.post("/api/users/password/reset", {"email": email}, format="json")


def link_parts() -> tuple[str, str, str]:
    [message] = mail.outbox
    site, uid, token = LINK.search(message.body).groups()
    html = message.alternatives[0][0]
    assert f"{site}/reset/{uid}/{token}" in html
    return site, uid, token


def confirm(api_client, uid, token, password=NEW_PASSWORD):
    return api_client.post("/api/users/password/reset/confirm", {"uid": uid, "token": token, "password": password},
                           format="json")


def signin(api_client, password):
    return api_client.post("/api/users/signin", {"email": "ann@example.com", "password": password}, format="json")


def test_asking_emails_a_link_to_the_sites_reset_page(api_client, signup, settings):
    signup()

    response = ask(api_client, "  ANN@example.com ")

    assert response.status_code == 202
    assert response.content == b""
    [message] = mail.outbox
    assert message.to == ["ann@example.com"] and message.subject == "Reset your password"
    site, _, _ = link_parts()
    assert site == settings.SITE_URL


def test_an_unknown_email_gets_the_same_answer_and_no_mail(api_client):
    response = ask(api_client, "nobody@example.com")

    assert (response.status_code, response.content) == (202, b"")
    assert mail.outbox == []


@pytest.mark.parametrize("body", [{}, {"email": "not-an-email"}, {"email": 12}])
def test_a_malformed_email_is_400(api_client, body):
    response = api_client.post("/api/users/password/reset", body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "email"


def test_confirming_sets_the_password_and_kills_every_refresh_token(api_client, signup):
    first = signup()
    second = signin(api_client, PASSWORD).json()
    ask(api_client)
    _, uid, token = link_parts()

    response = confirm(api_client, uid, token)

    assert response.status_code == 204
    assert signin(api_client, PASSWORD).status_code == 400
    assert signin(api_client, NEW_PASSWORD).status_code == 200
    for session in (first, second):
        refreshed = api_client.post("/api/users/token/refresh", {"refresh": session["refresh"]}, format="json")
        assert refreshed.status_code == 401


def test_a_link_works_once(api_client, signup):
    signup()
    ask(api_client)
    _, uid, token = link_parts()
    assert confirm(api_client, uid, token).status_code == 204

    again = confirm(api_client, uid, token, "yet another passphrase 7")

    assert again.status_code == 400
    assert again.json() == {"errors": [{"message": "This reset link is invalid or has already been used.",
                                        "field": "token"}]}
    assert signin(api_client, NEW_PASSWORD).status_code == 200


def test_a_link_older_than_an_hour_is_refused(api_client, signup, monkeypatch):
    signup()
    ask(api_client)
    _, uid, token = link_parts()
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: datetime.now() + timedelta(minutes=61))

    assert confirm(api_client, uid, token).status_code == 400
    assert signin(api_client, PASSWORD).status_code == 200


@pytest.mark.parametrize(("uid", "token"), [("bad", "bad"), ("", ""), ("\x00", "1-2"), ("MTIz", "abc-def")])
def test_a_bad_link_is_400(api_client, signup, uid, token):
    signup()

    response = confirm(api_client, uid, token)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] in ("uid", "token")  # blank: uid, as the schema says


@pytest.mark.parametrize("weak", ["short", "12345678901", "password123", "ann@example.com"])
def test_a_weak_password_is_400_and_keeps_the_link_usable(api_client, signup, weak):
    signup()
    ask(api_client)
    _, uid, token = link_parts()

    response = confirm(api_client, uid, token, weak)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "password"
    assert confirm(api_client, uid, token).status_code == 204


def test_an_inactive_account_gets_no_mail(api_client, signup):
    signup()
    User.objects.update(is_active=False)

    assert ask(api_client).status_code == 202
    assert mail.outbox == []


def test_a_nul_in_a_refresh_token_is_a_401_not_a_400(api_client):
    for path in ("/api/users/token/refresh", "/api/users/signout"):
        response = api_client.post(path, {"refresh": "abc\x00def"}, format="json")
        assert response.status_code == 401, (path, response.json())
