import uuid

import jwt
import pytest
from django.conf import settings

from accounts.models import User
from tests.conftest import PASSWORD
from ticketing_shared.testing.helpers import run_concurrently

pytestmark = pytest.mark.django_db


def post(api_client, body):
    return api_client.post("/api/users/signup", body, format="json")


def test_signup_creates_the_user_and_answers_with_tokens(api_client):
    response = post(api_client, {"email": "Ann@Example.COM ", "password": PASSWORD})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "access", "refresh"}
    assert body["email"] == "ann@example.com"
    user = User.objects.get(pk=body["id"])
    assert user.email == "ann@example.com"
    assert user.password.startswith("argon2$")
    assert user.check_password(PASSWORD)
    claims = jwt.decode(body["access"], settings.SIMPLE_JWT["VERIFYING_KEY"], algorithms=["RS256"],
                        issuer=settings.SIMPLE_JWT["ISSUER"])
    assert claims["user_id"] == body["id"]
    assert claims["email"] == "ann@example.com"
    assert claims["is_staff"] is False
    assert jwt.get_unverified_header(body["access"])["alg"] == "RS256"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email", "Enter a valid email address."),
        ({"password": PASSWORD}, "email", "This field is required."),
        ({"email": "ann@example.com"}, "password", "This field is required."),
        ({"email": "ann@example.com", "password": "short"}, "password",
         "This password is too short. It must contain at least 8 characters."),
        ({"email": "ann@example.com", "password": "password123"}, "password", "This password is too common."),
        ({"email": "ann@example.com", "password": "83729104658"}, "password", "This password is entirely numeric."),
        ({"email": "ann@example.com", "password": 8372910465812}, "password", "Not a valid string."),
        ({"email": "annabelle.smith@example.com", "password": "annabellesmith"}, "password",
         "The password is too similar to the email."),
    ],
)
def test_signup_rejects_invalid_input_and_creates_nobody(api_client, body, field, message):
    response = post(api_client, body)

    assert response.status_code == 400
    assert {"message": message, "field": field} in response.json()["errors"]
    assert not User.objects.exists()


def test_signup_rejects_a_body_that_is_not_json(api_client):
    response = api_client.post("/api/users/signup", "email=x", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert response.json()["errors"][0]["message"]


def test_an_email_is_taken_whatever_its_case(api_client, signup):
    signup("ann@example.com")

    response = post(api_client, {"email": "ANN@example.com", "password": PASSWORD})

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Email in use.", "field": "email"}]}
    assert User.objects.count() == 1


def test_the_database_refuses_a_second_spelling_of_an_email():
    User.objects.create_user("bob@example.com", PASSWORD)
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([User(email="Bob@Example.com")])  # bypasses every Python check


@pytest.mark.django_db(transaction=True)
def test_concurrent_signups_with_one_email_create_one_user(api_client):
    from rest_framework.test import APIClient

    email = f"race-{uuid.uuid4().hex[:6]}@example.com"

    def sign_up(client: APIClient) -> int:
        return client.post("/api/users/signup", {"email": email, "password": PASSWORD}, format="json").status_code

    statuses = run_concurrently(sign_up, [APIClient() for _ in range(6)])

    assert sorted(statuses) == [201] + [400] * 5
    assert User.objects.filter(email=email).count() == 1
