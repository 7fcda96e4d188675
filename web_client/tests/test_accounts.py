"""Sign up, sign in and sign out, against a stubbed auth service."""

from __future__ import annotations

import json

import pytest
import requests
from responses import matchers

from tests.conftest import AUTH, TICKETS, bearer, errors, flashes, page_json, session_data

SIGNED_UP = {
    "id": "0b8f6a56-7c1b-4c0e-9a57-1c4b6c1e9f10",
    "email": "new@example.com",
    "access": "access-new",
    "refresh": "refresh-new",
}


def test_sign_up_page_has_labelled_fields_and_a_title(client):
    response = client.get("/signup")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Sign up · Ticket Market</title>" in html
    assert '<label class="form-label fw-medium" for="id_email">Email</label>' in html
    assert '<label class="form-label fw-medium" for="id_password">Password</label>' in html
    assert 'aria-describedby="id_password_help"' in html


def test_signing_up_keeps_the_tokens_in_the_server_side_session_only(client, api):
    api.post(
        f"{AUTH}/api/users/signup",
        json=SIGNED_UP,
        status=201,
        match=[matchers.json_params_matcher({"email": "new@example.com", "password": "Plenty-Of-Entropy-42"})],
    )

    response = client.post("/signup", {"email": "new@example.com", "password": "Plenty-Of-Entropy-42"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert flashes(response) == ["Welcome, new@example.com! Your account is ready."]
    assert client.session["auth"] == {
        "id": SIGNED_UP["id"],
        "email": "new@example.com",
        "access": "access-new",
        "refresh": "refresh-new",
    }
    cookies = "; ".join(f"{key}={morsel.value}" for key, morsel in response.cookies.items())
    assert "access-new" not in cookies and "refresh-new" not in cookies
    assert response.cookies["sessionid"]["httponly"]

    api.get(f"{TICKETS}/api/tickets", json=page_json([]))
    home = client.get("/")
    html = home.content.decode()
    assert 'Signed in as <strong class="text-white">new@example.com</strong>' in html
    assert "access-new" not in html and "refresh-new" not in html


def test_sign_up_errors_are_shown_next_to_their_fields(client, api):
    api.post(
        f"{AUTH}/api/users/signup",
        status=400,
        json=errors(
            ("Email in use.", "email"),
            ("This password is too common.", "password"),
        ),
    )

    response = client.post("/signup", {"email": "taken@example.com", "password": "password1"})

    assert response.status_code == 400
    html = response.content.decode()
    assert '<div class="invalid-feedback d-block" id="id_email_error">Email in use.</div>' in html
    assert '<div class="invalid-feedback d-block" id="id_password_error">This password is too common.</div>' in html
    assert 'aria-describedby="id_email_error"' in html
    assert 'aria-describedby="id_password_help id_password_error"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="taken@example.com"' in html  # what was typed survives
    assert "auth" not in client.session


def test_a_bad_email_is_refused_before_asking_the_auth_service(client, api):
    response = client.post("/signup", {"email": "not-an-email", "password": "whatever-it-is"})
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert len(api.calls) == 0


def test_sign_up_when_the_auth_service_is_down_says_so(client, api):
    api.post(f"{AUTH}/api/users/signup", body=requests.ConnectionError("refused"))

    response = client.post("/signup", {"email": "new@example.com", "password": "Plenty-Of-Entropy-42"})

    assert response.status_code == 400
    assert "The auth service is unavailable, please try again." in response.content.decode()
    assert 'role="alert" id="form-errors"' in response.content.decode()


def test_signing_in_goes_back_to_the_page_that_asked_for_it(client, api):
    api.post(f"{AUTH}/api/users/signin", json=SIGNED_UP)

    response = client.post("/signin", {"email": "new@example.com", "password": "pw", "next": "/tickets/new"})

    assert response.status_code == 302
    assert response["Location"] == "/tickets/new"
    assert client.session["auth"]["access"] == "access-new"


def test_signing_in_changes_the_session_key(client, api):
    session = client.session
    session["planted"] = True
    session.save()
    before = session.session_key
    api.post(f"{AUTH}/api/users/signin", json=SIGNED_UP)

    client.post("/signin", {"email": "new@example.com", "password": "pw"})

    assert client.cookies["sessionid"].value != before


def test_sign_in_never_redirects_off_site(client, api):
    api.post(f"{AUTH}/api/users/signin", json=SIGNED_UP)
    response = client.post("/signin", {"email": "new@example.com", "password": "pw", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_wrong_credentials_are_a_form_error(client, api):
    api.post(f"{AUTH}/api/users/signin", status=400, json=errors(("Invalid credentials", None)))

    response = client.post("/signin", {"email": "new@example.com", "password": "wrong"})

    assert response.status_code == 400
    html = response.content.decode()
    assert '<div class="alert alert-danger" role="alert" id="form-errors">' in html
    assert "Invalid credentials" in html
    assert 'aria-describedby="form-errors"' in html


def test_too_many_failed_sign_ins_say_to_wait(client, api):
    api.post(f"{AUTH}/api/users/signin", status=429, json=errors(("Request was throttled.", None)))
    response = client.post("/signin", {"email": "new@example.com", "password": "wrong"})
    assert "Too many failed sign-in attempts. Please wait a few minutes and try again." in response.content.decode()


def test_a_signed_in_person_is_sent_on_from_the_sign_in_page(signed_in):
    client = signed_in()
    assert client.get("/signin")["Location"] == "/"
    assert client.get("/signup?next=/orders")["Location"] == "/orders"


def test_sign_out_is_a_post(signed_in):
    client = signed_in()
    assert client.get("/signout").status_code == 405
    assert client.session["auth"]


def test_signing_out_kills_the_refresh_token_and_forgets_the_session(signed_in, api):
    client = signed_in(access="access-1", refresh="refresh-1")
    api.post(f"{AUTH}/api/users/signout", status=204, match=[matchers.json_params_matcher({"refresh": "refresh-1"})])

    response = client.post("/signout")

    assert response["Location"] == "/"
    assert bearer(api.calls[0]) == "Bearer access-1"
    assert "auth" not in client.session
    assert flashes(response) == ["You have signed out."]


def test_signing_out_with_an_expired_access_token_kills_the_rotated_refresh_token(signed_in, api):
    client = signed_in(access="stale", refresh="refresh-1")
    api.post(f"{AUTH}/api/users/signout", status=401, json=errors(("Token expired", None)))
    api.post(
        f"{AUTH}/api/users/token/refresh",
        json={"access": "access-2", "refresh": "refresh-2"},
        match=[matchers.json_params_matcher({"refresh": "refresh-1"})],
    )
    api.post(f"{AUTH}/api/users/signout", status=204)

    client.post("/signout")

    last = api.calls[-1]
    assert bearer(last) == "Bearer access-2"
    assert json.loads(last.request.body) == {"refresh": "refresh-2"}
    assert "auth" not in client.session


@pytest.mark.parametrize("failure", [requests.ConnectTimeout("slow"), None])
def test_signing_out_works_even_when_the_auth_service_does_not(signed_in, api, failure):
    client = signed_in()
    if failure:
        api.post(f"{AUTH}/api/users/signout", body=failure)
    else:
        api.post(f"{AUTH}/api/users/signout", status=500, body="boom")

    response = client.post("/signout")

    assert response.status_code == 302
    assert "auth" not in client.session
    assert flashes(response) == ["You have signed out."]


def test_the_header_shows_sign_in_links_when_signed_out(client, api):
    api.get(f"{TICKETS}/api/tickets", json=page_json([]))
    html = client.get("/").content.decode()
    assert 'href="/signin"' in html and 'href="/signup"' in html
    assert "Sign out" not in html
    assert "My orders" not in html


def test_session_data_helper_matches_what_sign_in_stores(client, api):
    """The fixtures sign people in with the same shape the views store."""
    api.post(f"{AUTH}/api/users/signin", json=SIGNED_UP)
    client.post("/signin", {"email": "new@example.com", "password": "pw"})
    assert set(client.session["auth"]) == set(session_data())


# -- forgotten password ---------------------------------------------------------------------------


def test_sign_in_offers_a_password_reset(client):
    assert 'href="/password/forgot">Forgot your password?' in client.get("/signin").content.decode()


def test_asking_for_a_reset_link_never_says_whether_the_account_exists(client, api):
    api.post(f"{AUTH}/api/users/password/reset", status=202,
             match=[matchers.json_params_matcher({"email": "ann@example.com"})])

    html = client.post("/password/forgot", {"email": "ann@example.com"}).content.decode()

    assert "If an account exists for ann@example.com, we have emailed it a link" in html


def test_too_many_reset_requests_say_to_wait(client, api):
    api.post(f"{AUTH}/api/users/password/reset", status=429, headers={"Retry-After": "3412"},
             json=errors(("Too many password reset requests. Try again in 3412 seconds.", None)))

    response = client.post("/password/forgot", {"email": "ann@example.com"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Too many password reset requests from your address. Please wait a while and try again." in html
    assert "If an account exists" not in html


def test_a_reset_link_sets_the_new_password(client, api):
    api.post(f"{AUTH}/api/users/password/reset/confirm", status=204,
             match=[matchers.json_params_matcher({"uid": "MTIz", "token": "abc-def", "password": "new passphrase 9"})])

    response = client.post("/reset/MTIz/abc-def", {"password": "new passphrase 9"})

    assert response["Location"] == "/signin"
    assert flashes(response) == [
        "Your password was changed. Sign in with the new one; every other session was signed out."]


def test_a_used_reset_link_offers_a_new_one(client, api):
    api.post(f"{AUTH}/api/users/password/reset/confirm", status=400,
             json=errors(("This reset link is invalid or has already been used.", "token")))

    response = client.post("/reset/MTIz/abc-def", {"password": "new passphrase 9"})

    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="bad-link"' in html and 'href="/password/forgot"' in html


def test_a_weak_new_password_is_shown_by_the_field(client, api):
    api.post(f"{AUTH}/api/users/password/reset/confirm", status=400,
             json=errors(("This password is too common.", "password")))

    html = client.post("/reset/MTIz/abc-def", {"password": "password"}).content.decode()

    assert "This password is too common." in html and 'id="id_password_error"' in html
