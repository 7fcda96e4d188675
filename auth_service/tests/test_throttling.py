"""Sign-in throttling keyed on the real client, shared by the API and this service's admin."""

import uuid

import pytest
from django.test import RequestFactory, override_settings

from accounts import throttling
from accounts.models import User
from tests.conftest import PASSWORD
from ticketing_shared.admin_sso import AuthServiceBackend

pytestmark = pytest.mark.django_db

WEB_CLIENT = "127.0.0.1"  # trusted in development and tests (TRUSTED_PROXIES)
ATTACKER = "203.0.113.66"
ANN_BROWSER = "198.51.100.7"
OPERATOR_BROWSER = "192.0.2.10"
LOCKED = "Too many failed sign-in attempts. Try again in"


def signin(api_client, email, password=PASSWORD, *, via=WEB_CLIENT, browser=None):
    """A sign-in from ``browser``, through ``via`` (the web client by default), as it forwards it."""
    extra = {"REMOTE_ADDR": via, **({"HTTP_X_FORWARDED_FOR": browser} if browser else {})}
    return api_client.post("/api/users/signin", {"email": email, "password": password}, format="json", **extra)


def random_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture
def ann(db) -> User:
    return User.objects.create_user("ann@example.com", PASSWORD)


@pytest.fixture
def operator(db) -> User:
    return User.objects.create_superuser("ops@example.com", PASSWORD)


@pytest.fixture
def admin_sso(live_server, settings, monkeypatch):
    """``admin_sso(browser, email, password)``: another service's admin signing an operator in
    through ``ticketing_shared.admin_sso``, over HTTP, at this auth service. Returns the staff
    token's claims (this service's user model cannot hold the local mirror other services keep)."""
    settings.AUTH_SERVICE_URL = live_server.url
    monkeypatch.setattr(AuthServiceBackend, "_mirror", staticmethod(lambda claims: claims))

    def sign_in(browser: str, email: str, password: str = PASSWORD):
        request = RequestFactory().post("/admin/login/", REMOTE_ADDR=browser)
        return AuthServiceBackend().authenticate(request, username=email, password=password)

    return sign_in


# the scenario: one address spraying guesses through the storefront


@pytest.mark.django_db(transaction=True)
def test_a_spray_through_the_web_client_locks_out_only_the_sprayers_address(api_client, ann, operator, admin_sso):
    statuses = [signin(api_client, random_email(), "wrong", browser=ATTACKER).status_code for _ in range(55)]

    assert statuses == [400] * 50 + [429] * 5
    assert signin(api_client, "ann@example.com", browser=ANN_BROWSER).status_code == 200
    assert admin_sso(OPERATOR_BROWSER, "ops@example.com")["email"] == "ops@example.com"
    assert signin(api_client, "ann@example.com", browser=ATTACKER).status_code == 429  # the sprayer stays out


@pytest.mark.django_db(transaction=True)
def test_admin_sign_in_still_obeys_the_lockout_of_its_email(api_client, operator, admin_sso):
    for _ in range(5):
        signin(api_client, "ops@example.com", "wrong", browser=ATTACKER)

    assert admin_sso(OPERATOR_BROWSER, "ops@example.com") is None
    assert signin(api_client, "ops@example.com", browser=OPERATOR_BROWSER).status_code == 429


@pytest.mark.django_db(transaction=True)
def test_admin_sign_in_counts_failures_against_the_operators_own_address(api_client, operator, admin_sso, settings):
    settings.SIGNIN_THROTTLE = {**settings.SIGNIN_THROTTLE, "MAX_FAILURES_PER_CLIENT": 3}
    for _ in range(3):
        assert admin_sso(OPERATOR_BROWSER, random_email(), "wrong") is None

    assert signin(api_client, "ops@example.com", browser=OPERATOR_BROWSER).status_code == 429
    assert admin_sso("192.0.2.11", "ops@example.com")["email"] == "ops@example.com"


# whose address counts


@override_settings(SIGNIN_THROTTLE={"MAX_FAILURES_PER_EMAIL": 100, "MAX_FAILURES_PER_CLIENT": 3,
                                    "LOCKOUT_SECONDS": 60})
def test_a_made_up_forwarded_header_from_an_untrusted_peer_changes_nothing(api_client, ann):
    for _ in range(3):
        signin(api_client, random_email(), "wrong", via=ATTACKER, browser=random_email().split("@")[0])
        signin(api_client, random_email(), "wrong", via=ATTACKER, browser=f"198.51.100.{uuid.uuid4().int % 250}")

    assert signin(api_client, "ann@example.com", via=ATTACKER, browser=ANN_BROWSER).status_code == 429
    assert signin(api_client, "ann@example.com", via=ANN_BROWSER).status_code == 200


@override_settings(SIGNIN_THROTTLE={"MAX_FAILURES_PER_EMAIL": 100, "MAX_FAILURES_PER_CLIENT": 3,
                                    "LOCKOUT_SECONDS": 60}, TRUSTED_PROXIES=[])
def test_without_trusted_proxies_the_peer_is_the_client(api_client, ann):
    for _ in range(3):
        signin(api_client, random_email(), "wrong", browser=ATTACKER)

    assert signin(api_client, "ann@example.com", browser=ANN_BROWSER).status_code == 429  # all one web client


def test_an_ipv6_client_is_counted_by_its_64():
    assert throttling.client_bucket("2001:db8:1:2:aaaa::1") == throttling.client_bucket("2001:db8:1:2:bbbb::9")
    assert throttling.client_bucket("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert throttling.client_bucket("2001:db8:1:3::1") != throttling.client_bucket("2001:db8:1:2::1")
    assert throttling.client_bucket("203.0.113.5") == "203.0.113.5"


# the admin of this service


def admin_login(client, email, password=PASSWORD, browser=ANN_BROWSER):
    return client.post("/admin/login/?next=/admin/", {"username": email, "password": password}, REMOTE_ADDR=browser)


def test_with_the_api_at_429_for_an_email_the_admin_refuses_it_too(api_client, client, operator):
    for _ in range(5):
        signin(api_client, "ops@example.com", "wrong", browser=ATTACKER)
    assert signin(api_client, "ops@example.com", browser=ATTACKER).status_code == 429

    response = admin_login(client, "OPS@example.com", browser=OPERATOR_BROWSER)  # the right password

    assert response.status_code == 200  # the form again
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_failures_at_the_admin_lock_the_email_for_the_api_too(api_client, client, operator):
    for _ in range(5):
        assert admin_login(client, "ops@example.com", "wrong").status_code == 200

    assert admin_login(client, "ops@example.com").status_code == 200  # locked out, right password or not
    assert "_auth_user_id" not in client.session
    locked = signin(api_client, "ops@example.com", browser=OPERATOR_BROWSER)
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0


@override_settings(SIGNIN_THROTTLE={"MAX_FAILURES_PER_EMAIL": 100, "MAX_FAILURES_PER_CLIENT": 3,
                                    "LOCKOUT_SECONDS": 60})
def test_a_client_the_api_locked_out_is_locked_out_of_the_admin(api_client, client, operator):
    for _ in range(3):
        signin(api_client, random_email(), "wrong", browser=ATTACKER)

    assert LOCKED in admin_login(client, "ops@example.com", browser=ATTACKER).content.decode()
    assert admin_login(client, "ops@example.com", browser=OPERATOR_BROWSER).status_code == 302


def test_the_admin_still_signs_staff_in_and_a_success_clears_the_count(client, operator):
    for _ in range(4):
        admin_login(client, "ops@example.com", "wrong")

    assert admin_login(client, "ops@example.com").status_code == 302
    client.logout()
    for _ in range(4):
        admin_login(client, "ops@example.com", "wrong")
    assert admin_login(client, "ops@example.com").status_code == 302


def test_the_admin_keeps_non_staff_out(client, ann):
    response = admin_login(client, "ann@example.com")

    assert response.status_code == 200
    assert "Please enter the correct email and password for a staff account" in response.content.decode()
