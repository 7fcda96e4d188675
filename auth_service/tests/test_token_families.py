"""Refresh-token families: a spent refresh token used again kills the sign-in it came from."""

from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts import tokens
from accounts.models import RevokedTokenFamily, User
from tests.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db


def refresh(api_client, token):
    return api_client.post("/api/users/token/refresh", {"refresh": token}, format="json")


def signout(api_client, token, access=None):
    extra = bearer(access) if access else {}
    return api_client.post("/api/users/signout", {"refresh": token}, format="json", **extra)


def claims(token: str) -> dict:
    return jwt.decode(token, settings.SIMPLE_JWT["VERIFYING_KEY"], algorithms=["RS256"],
                      options={"verify_iss": False})


def rotations(api_client, first: dict, times: int) -> list[dict]:
    """``first`` and the ``times`` pairs rotated from it, oldest first."""
    pairs = [first]
    for _ in range(times):
        response = refresh(api_client, pairs[-1]["refresh"])
        assert response.status_code == 200, response.json()
        pairs.append(response.json())
    return pairs


def test_rotation_keeps_the_family_and_each_sign_in_starts_its_own(api_client, signup):
    user = signup("ann@example.com")
    pairs = rotations(api_client, user, 3)
    again = api_client.post("/api/users/signin", {"email": "ann@example.com", "password": PASSWORD},
                            format="json").json()

    families = {claims(pair["refresh"])["family"] for pair in pairs}
    assert len(families) == 1
    assert claims(again["refresh"])["family"] not in families
    assert "family" not in claims(pairs[-1]["access"])  # access tokens are as they were
    assert not RevokedTokenFamily.objects.exists()


def test_a_replayed_token_kills_its_whole_family(api_client, signup):
    user = signup("ann@example.com")
    stolen, _, newest = (pair["refresh"] for pair in rotations(api_client, user, 2))

    replay = refresh(api_client, stolen)

    assert replay.status_code == 401
    assert replay.json() == {"errors": [{"message": "Token is invalid, expired or revoked."}]}
    assert refresh(api_client, newest).status_code == 401
    assert signout(api_client, newest).status_code == 401
    revoked = RevokedTokenFamily.objects.get()
    assert (revoked.family, str(revoked.user_id)) == (claims(newest)["family"], user["id"])


def test_the_newest_token_is_refused_at_sign_out_too(api_client, signup):
    user = signup("ann@example.com")
    stolen, newest = rotations(api_client, user, 1)
    refresh(api_client, stolen["refresh"])

    response = signout(api_client, newest["refresh"], newest["access"])

    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "Token is invalid, expired or revoked."}]}


def test_a_spent_token_used_to_sign_out_kills_its_family_as_well(api_client, signup):
    user = signup("ann@example.com")
    stolen, newest = (pair["refresh"] for pair in rotations(api_client, user, 1))

    assert signout(api_client, stolen).status_code == 401
    assert refresh(api_client, newest).status_code == 401


def test_another_sign_in_is_not_affected(api_client, signup):
    user = signup("ann@example.com")
    laptop = api_client.post("/api/users/signin", {"email": "ann@example.com", "password": PASSWORD},
                             format="json").json()
    stolen, _ = (pair["refresh"] for pair in rotations(api_client, user, 1))

    refresh(api_client, stolen)

    assert refresh(api_client, laptop["refresh"]).status_code == 200
    assert RevokedTokenFamily.objects.count() == 1


def test_a_sign_out_spends_a_token_without_revoking_its_family(api_client, signup):
    """Nothing was copied, so nothing is recorded; the same token coming back afterwards was."""
    user = signup("ann@example.com")

    assert signout(api_client, user["refresh"], user["access"]).status_code == 204
    assert not RevokedTokenFamily.objects.exists()
    assert signout(api_client, user["refresh"], user["access"]).status_code == 401
    assert RevokedTokenFamily.objects.count() == 1


def test_a_token_from_before_families_starts_one_of_its_own(api_client, signup):
    user = signup("ann@example.com")
    legacy = tokens.RefreshToken.for_user(User.objects.get(pk=user["id"]))  # no family claim, as before
    assert "family" not in legacy.payload

    successor = refresh(api_client, str(legacy)).json()
    assert claims(successor["refresh"])["family"] == legacy["jti"]
    assert refresh(api_client, str(legacy)).status_code == 401

    assert refresh(api_client, successor["refresh"]).status_code == 401


def test_an_unknown_token_revokes_nothing(api_client, signup):
    user = signup("ann@example.com")
    OutstandingToken.objects.all().delete()  # signed by us, but not on record

    assert refresh(api_client, user["refresh"]).status_code == 401
    assert not RevokedTokenFamily.objects.exists()


def test_records_of_families_whose_tokens_have_all_expired_are_forgotten(api_client, signup):
    lifetime = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    ann = User.objects.create_user("old@example.com", PASSWORD)
    old = RevokedTokenFamily.objects.create(family="old", user=ann,
                                            revoked_at=timezone.now() - lifetime - timedelta(hours=2))
    recent = RevokedTokenFamily.objects.create(family="recent", user=ann,
                                               revoked_at=timezone.now() - lifetime + timedelta(hours=2))
    user = signup("ann@example.com")
    stolen, _ = (pair["refresh"] for pair in rotations(api_client, user, 1))

    refresh(api_client, stolen)

    assert set(RevokedTokenFamily.objects.values_list("family", flat=True)) == {
        recent.family, claims(stolen)["family"]}
    assert not RevokedTokenFamily.objects.filter(pk=old.pk).exists()


def test_looking_at_a_token_without_spending_it_sees_its_family(api_client, signup):
    from ticketing_shared.errors import Unauthenticated

    user, other = signup("ann@example.com"), signup("bob@example.com")
    stolen, newest = (pair["refresh"] for pair in rotations(api_client, user, 1))

    assert tokens.live_refresh(newest)["user_id"] == user["id"]
    assert tokens.live_refresh(newest)["jti"] == claims(newest)["jti"]  # looking twice spends nothing
    with pytest.raises(Unauthenticated):
        tokens.live_refresh(stolen)  # spent
    refresh(api_client, stolen)
    with pytest.raises(Unauthenticated):
        tokens.live_refresh(newest)  # never spent, but its family is dead
    assert tokens.live_refresh(other["refresh"])["user_id"] == other["id"]
