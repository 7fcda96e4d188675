"""``POST /api/users/operator-status``: what other services' admins re-validate their sessions with."""

import pytest
from django.core.management import call_command
from django.test import RequestFactory

from accounts.models import User
from tests.conftest import PASSWORD
from ticketing_shared import admin_sso

pytestmark = pytest.mark.django_db


def status(api_client, refresh):
    return api_client.post("/api/users/operator-status", {"refresh": refresh}, format="json")


@pytest.fixture
def operator(api_client):
    """An operator signed in through the API, as another service's admin signs them in."""
    User.objects.create_superuser("ops@example.com", PASSWORD)
    response = api_client.post("/api/users/signin", {"email": "ops@example.com", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    return response.json()


def test_a_signed_in_operator_is_confirmed_as_staff(api_client, operator):
    response = status(api_client, operator["refresh"])

    assert response.status_code == 200
    assert response.json() == {"id": operator["id"], "email": "ops@example.com", "is_staff": True,
                               "is_superuser": True}


def test_asking_does_not_spend_the_token(api_client, operator):
    assert status(api_client, operator["refresh"]).status_code == 200
    assert status(api_client, operator["refresh"]).status_code == 200

    assert api_client.post("/api/users/token/refresh", {"refresh": operator["refresh"]},
                           format="json").status_code == 200


def test_make_staff_revoke_shows_at_once(api_client, operator):
    call_command("make_staff", "ops@example.com", "--revoke")

    response = status(api_client, operator["refresh"])

    assert response.status_code == 200
    assert response.json()["is_staff"] is False
    assert response.json()["is_superuser"] is False


@pytest.mark.parametrize("change", ["deactivate", "delete"])
def test_a_deactivated_or_deleted_account_is_refused(api_client, operator, change):
    user = User.objects.get(email="ops@example.com")
    if change == "deactivate":
        user.is_active = False
        user.save(update_fields=["is_active"])
    else:
        user.delete()

    response = status(api_client, operator["refresh"])

    assert response.status_code == 401
    assert response.json()["errors"][0]["message"]


def test_a_dead_token_is_refused(api_client, operator):
    api_client.post("/api/users/token/refresh", {"refresh": operator["refresh"]}, format="json")  # spends it

    assert status(api_client, operator["refresh"]).status_code == 401
    assert status(api_client, operator["access"]).status_code == 401  # an access token is not a refresh token
    assert status(api_client, "nonsense").status_code == 401
    assert api_client.post("/api/users/operator-status", {}, format="json").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_another_services_admin_session_follows_this_service(live_server, settings, monkeypatch):
    """``ticketing_shared.admin_sso`` against this endpoint over HTTP: signed in, then revoked."""
    settings.AUTH_SERVICE_URL = live_server.url
    User.objects.create_superuser("ops@example.com", PASSWORD)
    monkeypatch.setattr(admin_sso.AuthServiceBackend, "_mirror", staticmethod(lambda claims: claims))
    request = RequestFactory().post("/admin/login/")

    signed_in = admin_sso.AuthServiceBackend().authenticate(request, username="ops@example.com", password=PASSWORD)

    assert admin_sso.operator_status(signed_in.admin_sso_refresh)["is_staff"] is True
    call_command("make_staff", "ops@example.com", "--revoke")
    assert admin_sso.operator_status(signed_in.admin_sso_refresh)["is_staff"] is False
    User.objects.filter(email="ops@example.com").update(is_active=False)
    assert admin_sso.operator_status(signed_in.admin_sso_refresh) is None
