"""Access tokens are refreshed transparently; a dead refresh token signs the user out."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from responses import matchers

from storefront.session import UserSession
from tests.conftest import AUTH, ORDERS, bearer, errors, flashes, page_json, session_data


def test_a_refused_access_token_is_refreshed_once_and_the_call_retried(signed_in, api):
    client = signed_in(access="stale", refresh="refresh-1")
    api.get(f"{ORDERS}/api/orders", status=401, json=errors(("Token expired", None)))
    api.post(
        f"{AUTH}/api/users/token/refresh",
        json={"access": "access-2", "refresh": "refresh-2"},
        match=[matchers.json_params_matcher({"refresh": "refresh-1"})],
    )
    api.get(f"{ORDERS}/api/orders", json=page_json([]))

    response = client.get("/orders")

    assert response.status_code == 200
    assert [bearer(call) for call in api.calls if ORDERS in call.request.url] == ["Bearer stale", "Bearer access-2"]
    assert client.session["auth"]["access"] == "access-2"
    assert client.session["auth"]["refresh"] == "refresh-2"


def test_a_dead_refresh_token_signs_the_user_out_with_a_message(signed_in, api):
    client = signed_in(access="stale", refresh="dead")
    api.get(f"{ORDERS}/api/orders", status=401, json=errors(("Token expired", None)))
    api.post(f"{AUTH}/api/users/token/refresh", status=401, json=errors(("Token is invalid or expired", None)))

    response = client.get("/orders")

    assert response.status_code == 302
    assert response["Location"] == "/signin?next=%2Forders"
    assert flashes(response) == ["Your session has expired. Please sign in again."]
    assert "auth" not in client.session


def test_a_token_refused_even_after_refreshing_signs_the_user_out(signed_in, api):
    client = signed_in(access="stale")
    api.get(f"{ORDERS}/api/orders", status=401)
    api.post(f"{AUTH}/api/users/token/refresh", json={"access": "access-2", "refresh": "refresh-2"})
    api.get(f"{ORDERS}/api/orders", status=401)

    response = client.get("/orders")

    assert response["Location"] == "/signin?next=%2Forders"
    assert "auth" not in client.session


def test_after_a_failed_post_the_user_comes_back_to_the_page_they_were_on(signed_in, api):
    client = signed_in(access="stale")
    order_id = "0b8f6a56-7c1b-4c0e-9a57-1c4b6c1e9f10"
    api.delete(f"{ORDERS}/api/orders/{order_id}", status=401)
    api.post(f"{AUTH}/api/users/token/refresh", status=401)

    response = client.post(f"/orders/{order_id}/cancel", HTTP_REFERER=f"http://testserver/orders/{order_id}")

    assert response["Location"] == f"/signin?next=%2Forders%2F{order_id}"


def test_a_pair_another_request_already_rotated_is_used_without_refreshing_again(signed_in, api):
    """Two requests of one browser hit the expired token together: only one may spend the refresh token."""
    client = signed_in(access="stale", refresh="refresh-1")
    key = client.session.session_key
    store = import_module(settings.SESSION_ENGINE).SessionStore
    this_request = store(session_key=key)
    this_request.load()
    other_request = store(session_key=key)
    other_request["auth"] = session_data(access="access-2", refresh="refresh-2")
    other_request.save()

    access = UserSession(this_request).refresh("stale")

    assert access == "access-2"
    assert len(api.calls) == 0
    assert this_request["auth"]["refresh"] == "refresh-2"


def test_the_refreshed_pair_is_stored_at_once(signed_in, api):
    client = signed_in(access="stale", refresh="refresh-1")
    key = client.session.session_key
    store = import_module(settings.SESSION_ENGINE).SessionStore
    session = store(session_key=key)
    api.post(f"{AUTH}/api/users/token/refresh", json={"access": "access-2", "refresh": "refresh-2"})

    UserSession(session).refresh("stale")

    assert store(session_key=key).load()["auth"]["refresh"] == "refresh-2"
