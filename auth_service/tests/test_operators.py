import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_ensure_operator_creates_then_updates_a_superuser(monkeypatch):
    monkeypatch.setenv("OPERATOR_EMAIL", "Ops@Example.com")
    monkeypatch.setenv("OPERATOR_PASSWORD", "first-password-1")
    call_command("ensure_operator")
    monkeypatch.setenv("OPERATOR_PASSWORD", "second-password-2")
    call_command("ensure_operator")

    operator = User.objects.get()
    assert operator.email == "ops@example.com"
    assert operator.is_staff and operator.is_superuser
    assert operator.check_password("second-password-2")


def test_make_staff_grants_and_revokes():
    User.objects.create_user("ann@example.com", PASSWORD)

    call_command("make_staff", "ANN@example.com")
    assert User.objects.get().is_staff
    assert not User.objects.get().is_superuser
    call_command("make_staff", "ann@example.com", "--revoke")
    assert not User.objects.get().is_staff

    with pytest.raises(CommandError):
        call_command("make_staff", "nobody@example.com")


def test_the_admin_lists_and_creates_users(client):
    admin = User.objects.create_superuser("ops@example.com", PASSWORD)
    client.force_login(admin)

    assert client.get("/admin/accounts/user/?q=ops").status_code == 200
    response = client.post("/admin/accounts/user/add/",
                           {"email": "New@Example.com", "password1": PASSWORD, "password2": PASSWORD,
                            "usable_password": "true"})
    assert response.status_code == 302, response.content
    assert User.objects.filter(email="new@example.com").exists()


def test_the_api_serves_its_schema_and_docs(client):
    schema = client.get("/api/users/schema/")
    assert schema.status_code == 200
    assert b"/api/users/signup" in schema.content
    assert client.get("/api/users/docs/").status_code == 200
