import pytest
from django.test import override_settings

from accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def signin(api_client, email, password=PASSWORD, **extra):
    return api_client.post("/api/users/signin", {"email": email, "password": password}, format="json", **extra)


def test_signin_answers_with_the_user_and_fresh_tokens(api_client, signup):
    user = signup("ann@example.com")

    response = signin(api_client, " ANN@example.com")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "email", "access", "refresh"}
    assert (body["id"], body["email"]) == (user["id"], "ann@example.com")
    assert body["refresh"] != user["refresh"]
    assert User.objects.get(pk=user["id"]).last_login is not None


@pytest.mark.parametrize("email", ["ann@example.com", "nobody@example.com"])
def test_a_wrong_password_or_unknown_email_is_invalid_credentials(api_client, signup, email):
    signup("ann@example.com")

    response = signin(api_client, email, "wrong password")

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Invalid credentials"}]}


def test_an_inactive_user_cannot_sign_in(api_client, signup):
    signup("ann@example.com")
    User.objects.filter(email="ann@example.com").update(is_active=False)

    assert signin(api_client, "ann@example.com").json() == {"errors": [{"message": "Invalid credentials"}]}


def test_signin_requires_both_fields(api_client):
    response = api_client.post("/api/users/signin", {}, format="json")

    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"email", "password"}


def test_repeated_failures_lock_the_email_out_with_429(api_client, signup):
    signup("ann@example.com")
    for _ in range(5):
        assert signin(api_client, "ann@example.com", "wrong").status_code == 400

    locked = signin(api_client, "ann@example.com")  # even the right password waits

    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 300
    wait = locked["Retry-After"]
    assert locked.json() == {"errors": [{"message": f"Too many failed sign-in attempts. Try again in {wait} seconds."}]}
    assert signin(api_client, "ANN@EXAMPLE.COM").status_code == 429  # every spelling of it


def test_a_lockout_is_per_email(api_client, signup):
    signup("ann@example.com")
    signup("bob@example.com")
    for _ in range(5):
        signin(api_client, "ann@example.com", "wrong")

    assert signin(api_client, "bob@example.com").status_code == 200


@override_settings(SIGNIN_THROTTLE={"MAX_FAILURES_PER_EMAIL": 100, "MAX_FAILURES_PER_CLIENT": 3,
                                    "LOCKOUT_SECONDS": 60})
def test_one_client_guessing_many_emails_is_locked_out(api_client, signup):
    signup("ann@example.com")
    for n in range(3):
        signin(api_client, f"guess{n}@example.com", "wrong", REMOTE_ADDR="10.0.0.9")

    assert signin(api_client, "ann@example.com", REMOTE_ADDR="10.0.0.9").status_code == 429
    assert signin(api_client, "ann@example.com", REMOTE_ADDR="10.0.0.10").status_code == 200


def test_a_success_resets_the_failure_count(api_client, signup):
    signup("ann@example.com")
    for _ in range(4):
        signin(api_client, "ann@example.com", "wrong")
    assert signin(api_client, "ann@example.com").status_code == 200
    for _ in range(4):
        signin(api_client, "ann@example.com", "wrong")

    assert signin(api_client, "ann@example.com").status_code == 200
