"""A user's whole life in the auth service, through the running stack."""

import jwt
import pytest


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_every_service_is_healthy_and_ready(http, auth_url):
    assert http.get(f"{auth_url}/healthz").json() == {"status": "ok"}
    assert http.get(f"{auth_url}/readyz").status_code == 200


def test_sign_up_then_current_user(http, auth_url, signed_up, new_email):
    assert set(signed_up) >= {"id", "email", "access", "refresh"}
    assert signed_up["email"] == new_email
    response = http.get(f"{auth_url}/api/users/currentuser", headers=bearer(signed_up["access"]))
    assert response.json() == {"current_user": {"id": signed_up["id"], "email": new_email}}
    assert http.get(f"{auth_url}/api/users/currentuser").json() == {"current_user": None}


def test_access_tokens_verify_with_the_published_jwks(http, auth_url, signed_up):
    key = jwt.PyJWKClient(f"{auth_url}/api/users/jwks.json").get_signing_key_from_jwt(signed_up["access"]).key
    claims = jwt.decode(signed_up["access"], key, algorithms=["RS256"], options={"verify_aud": False})
    assert claims["user_id"] == signed_up["id"]


def test_sign_in_refresh_rotates_and_sign_out_kills_the_refresh_token(http, auth_url, signed_up):
    signin = http.post(
        f"{auth_url}/api/users/signin", json={"email": signed_up["email"].upper(), "password": signed_up["password"]}
    )
    assert signin.status_code == 200, signin.text
    tokens = signin.json()

    rotated = http.post(f"{auth_url}/api/users/token/refresh", json={"refresh": tokens["refresh"]})
    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != tokens["refresh"]

    fresh = rotated.json()
    signout = http.post(
        f"{auth_url}/api/users/signout", json={"refresh": fresh["refresh"]}, headers=bearer(fresh["access"])
    )
    assert signout.status_code == 204
    dead = http.post(f"{auth_url}/api/users/token/refresh", json={"refresh": fresh["refresh"]})
    assert dead.status_code == 401
    assert dead.json()["errors"][0]["message"]


def test_bad_input_gets_the_error_shape(http, auth_url, signed_up):
    taken = http.post(f"{auth_url}/api/users/signup", json={"email": signed_up["email"], "password": "x"})
    assert taken.status_code == 400
    assert all("message" in error for error in taken.json()["errors"])
    wrong = http.post(f"{auth_url}/api/users/signin", json={"email": signed_up["email"], "password": "nope"})
    assert wrong.status_code == 400
    assert wrong.json() == {"errors": [{"message": "Invalid credentials"}]}
    missing = http.get(f"{auth_url}/api/users/nothing")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(("path", "accept", "expected"), [
    ("/api/users/schema/", "application/vnd.oai.openapi", "/api/users/signup"),
    ("/api/users/docs/", "text/html", "swagger-ui"),
])
def test_the_api_documents_itself(http, auth_url, path, accept, expected):
    response = http.get(f"{auth_url}{path}", headers={"Accept": accept})
    assert response.status_code == 200
    assert expected in response.text


def test_a_replayed_refresh_token_ends_its_whole_sign_in(http, auth_url, signed_up):
    """A stolen refresh token used after its owner rotated it: the thief and the owner are both out."""
    credentials = {"email": signed_up["email"], "password": signed_up["password"]}
    stolen = http.post(f"{auth_url}/api/users/signin", json=credentials).json()["refresh"]
    owners = http.post(f"{auth_url}/api/users/token/refresh", json={"refresh": stolen}).json()

    assert http.post(f"{auth_url}/api/users/token/refresh", json={"refresh": stolen}).status_code == 401
    assert http.post(f"{auth_url}/api/users/token/refresh", json={"refresh": owners["refresh"]}).status_code == 401
