from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import RevokedTokenFamily, User
from tests.conftest import bearer
from ticketing_shared.testing.helpers import run_concurrently

pytestmark = pytest.mark.django_db


def refresh(api_client, token):
    return api_client.post("/api/users/token/refresh", {"refresh": token}, format="json")


def signout(api_client, access, token):
    return api_client.post("/api/users/signout", {"refresh": token}, format="json", **bearer(access))


# currentuser


def test_currentuser_with_a_valid_token(api_client, signup):
    user = signup("ann@example.com")

    response = api_client.get("/api/users/currentuser", **bearer(user["access"]))

    assert response.status_code == 200
    assert response.json() == {"current_user": {"id": user["id"], "email": "ann@example.com"}}


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic abc", "Bearer"])
def test_currentuser_is_null_without_a_valid_token(api_client, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = api_client.get("/api/users/currentuser", **extra)

    assert response.status_code == 200
    assert response.json() == {"current_user": None}


def test_currentuser_is_null_for_an_expired_or_forged_token(api_client, make_token, signup):
    user = signup("ann@example.com")
    expired = make_token(user_id=user["id"], lifetime=timedelta(seconds=-60))
    header, _, signature = user["access"].split(".")
    other_claims = jwt.utils.base64url_encode(b'{"user_id":"x","token_type":"access"}').decode()
    forged = ".".join([header, other_claims, signature])
    unsigned = jwt.encode({"user_id": user["id"], "token_type": "access"}, None, algorithm="none")
    hs256 = jwt.encode({"user_id": user["id"], "token_type": "access"}, settings.SIMPLE_JWT["VERIFYING_KEY"][:64],
                       algorithm="HS256")

    for token in (expired, forged, unsigned, hs256, user["refresh"]):
        assert api_client.get("/api/users/currentuser", **bearer(token)).json() == {"current_user": None}


# token refresh


def test_refresh_rotates_the_pair_and_kills_the_old_refresh_token(api_client, signup):
    user = signup("ann@example.com")

    response = refresh(api_client, user["refresh"])

    assert response.status_code == 200
    pair = response.json()
    assert set(pair) == {"access", "refresh"}
    assert pair["refresh"] != user["refresh"]
    claims = jwt.decode(pair["access"], settings.SIMPLE_JWT["VERIFYING_KEY"], algorithms=["RS256"],
                        options={"verify_iss": False})
    assert (claims["user_id"], claims["email"]) == (user["id"], "ann@example.com")

    replay = refresh(api_client, user["refresh"])
    assert replay.status_code == 401
    assert replay.json() == {"errors": [{"message": "Token is invalid, expired or revoked."}]}
    assert refresh(api_client, pair["refresh"]).status_code == 401  # the replay killed its family (below)


def test_refreshed_tokens_carry_the_current_staff_flag(api_client, signup):
    user = signup("ann@example.com")
    User.objects.filter(pk=user["id"]).update(is_staff=True)

    pair = refresh(api_client, user["refresh"]).json()

    assert jwt.decode(pair["access"], options={"verify_signature": False})["is_staff"] is True


@pytest.mark.parametrize("token", ["garbage", "", None])
def test_refresh_rejects_garbage(api_client, token):
    response = api_client.post("/api/users/token/refresh", {} if token is None else {"refresh": token}, format="json")

    assert response.status_code in (400, 401)
    assert response.json()["errors"][0]["message"]
    if token is None or token == "":
        assert response.json()["errors"][0]["field"] == "refresh"


def test_refresh_rejects_an_access_token_and_an_expired_refresh_token(api_client, signup):
    user = signup("ann@example.com")
    expired = RefreshToken.for_user(User.objects.get(pk=user["id"]))
    expired.set_exp(lifetime=timedelta(seconds=-60))

    assert refresh(api_client, user["access"]).status_code == 401
    assert refresh(api_client, str(expired)).status_code == 401


def test_refresh_of_a_deactivated_user_is_refused(api_client, signup):
    user = signup("ann@example.com")
    User.objects.filter(pk=user["id"]).update(is_active=False)

    assert refresh(api_client, user["refresh"]).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_one_token_yield_one_new_pair(signup):
    user = signup(email="race@example.com")

    statuses = run_concurrently(lambda client: refresh(client, user["refresh"]).status_code,
                                [APIClient() for _ in range(5)])

    assert sorted(statuses) == [200, 401, 401, 401, 401]
    # One token used five times looks like a theft, whoever raced: the sign-in ends. (The web
    # client never races itself: it refreshes one session under a lock.)
    assert RevokedTokenFamily.objects.count() == 1


# signout


def test_signout_kills_the_refresh_token(api_client, signup):
    user = signup("ann@example.com")

    response = signout(api_client, user["access"], user["refresh"])

    assert response.status_code == 204
    assert response.content == b""
    assert refresh(api_client, user["refresh"]).status_code == 401


def test_signing_out_with_a_dead_token_is_401(api_client, signup):
    user = signup("ann@example.com")
    signout(api_client, user["access"], user["refresh"])

    again = signout(api_client, user["access"], user["refresh"])

    assert again.status_code == 401
    assert again.json() == {"errors": [{"message": "Token is invalid, expired or revoked."}]}


def test_the_refresh_token_alone_is_proof_enough(api_client, signup):
    user = signup("ann@example.com")

    response = api_client.post("/api/users/signout", {"refresh": user["refresh"]}, format="json")

    assert response.status_code == 204
    assert refresh(api_client, user["refresh"]).status_code == 401


def test_a_bad_access_token_is_401_and_kills_nothing(api_client, signup):
    user = signup("ann@example.com")

    bad_token = signout(api_client, "nonsense", user["refresh"])

    assert bad_token.status_code == 401
    assert refresh(api_client, user["refresh"]).status_code == 200  # still alive


def test_signout_refuses_someone_elses_refresh_token(api_client, signup):
    ann, bob = signup("ann@example.com"), signup("bob@example.com")

    response = signout(api_client, ann["access"], bob["refresh"])

    assert response.status_code == 403
    assert refresh(api_client, bob["refresh"]).status_code == 200


def test_signout_rejects_malformed_expired_and_access_tokens_with_401(api_client, signup):
    user = signup("ann@example.com")
    expired = RefreshToken.for_user(User.objects.get(pk=user["id"]))
    expired.set_exp(lifetime=timedelta(seconds=-60))

    for token in ("garbage", user["access"], str(expired)):
        response = signout(api_client, user["access"], token)
        assert response.status_code == 401
        assert response.json() == {"errors": [{"message": "Token is invalid, expired or revoked."}]}
    assert api_client.post("/api/users/signout", {}, format="json").json()["errors"][0]["field"] == "refresh"


# JWKS


def test_jwks_publishes_the_key_that_verifies_access_tokens(api_client, signup):
    user = signup("ann@example.com")

    response = api_client.get("/api/users/jwks.json")

    assert response.status_code == 200
    keys = response.json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig"
    assert "d" not in keys[0]  # never the private part
    claims = jwt.decode(user["access"], jwt.PyJWK(keys[0]).key, algorithms=["RS256"], options={"verify_iss": False})
    assert claims["user_id"] == user["id"]


@pytest.mark.django_db(transaction=True)
def test_services_verifying_through_the_jwks_url_find_the_key_by_its_kid(live_server, signup):
    """What the other services do when configured with JWT_JWKS_URL (the Helm chart does)."""
    user = signup("ann@example.com")
    client = jwt.PyJWKClient(f"{live_server.url}/api/users/jwks.json")

    key = client.get_signing_key_from_jwt(user["access"])

    assert jwt.get_unverified_header(user["access"])["kid"] == key.key_id
    claims = jwt.decode(user["access"], key.key, algorithms=["RS256"], options={"verify_iss": False})
    assert claims["user_id"] == user["id"]
