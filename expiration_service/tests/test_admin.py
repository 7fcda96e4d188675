"""Operators see pending and fired expirations and can fire overdue ones now."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages

from expirations.models import Expiration
from tests.factories import ExpirationFactory, due
from ticketing_shared.testing.helpers import sign_in_operator

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/expirations/expiration/"


@pytest.fixture
def operator_client(client):
    operator = get_user_model().objects.create_superuser("ops", "ops@example.com", "unused-password-1")
    sign_in_operator(client, operator)
    return client


def test_the_list_shows_pending_and_fired_expirations(operator_client):
    pending = ExpirationFactory()
    fired = ExpirationFactory(status=Expiration.Status.FIRED, fired_at=pending.expires_at, **due())

    response = operator_client.get(CHANGELIST)
    assert response.status_code == 200
    assert str(pending.order_id) in response.text and str(fired.order_id) in response.text

    only_fired = operator_client.get(CHANGELIST, {"status__exact": "fired"})
    assert str(fired.order_id) in only_fired.text and str(pending.order_id) not in only_fired.text
    found = operator_client.get(CHANGELIST, {"q": str(pending.order_id)[:13]})
    assert str(pending.order_id) in found.text and str(fired.order_id) not in found.text


def test_the_list_warns_about_overdue_expirations(operator_client):
    ExpirationFactory(**due(seconds_ago=60))

    response = operator_client.get(CHANGELIST)

    warnings = [str(message) for message in get_messages(response.wsgi_request)]
    assert any("1 expirations overdue" in warning for warning in warnings), warnings
    overdue = operator_client.get(CHANGELIST, {"deadline": "passed"})
    assert overdue.context["cl"].result_count == 1


def test_fire_now_fires_selected_overdue_ones_through_the_outbox(operator_client, outbox):
    overdue = ExpirationFactory(**due())
    ahead = ExpirationFactory()

    response = operator_client.post(
        CHANGELIST, {"action": "fire_now", "_selected_action": [str(overdue.order_id), str(ahead.order_id)]}
    )

    assert response.status_code == 302
    assert [event["aggregateid"] for event in outbox("expiration.complete")] == [str(overdue.order_id)]
    ahead.refresh_from_db()
    assert ahead.status == Expiration.Status.PENDING


def test_one_expiration_is_view_only(operator_client):
    expiration = ExpirationFactory()
    url = f"{CHANGELIST}{expiration.order_id}/change/"

    assert operator_client.get(url).status_code == 200
    assert operator_client.post(url, {"status": "fired"}).status_code == 403
    assert operator_client.get(f"{CHANGELIST}add/").status_code == 403
    expiration.refresh_from_db()
    assert expiration.status == Expiration.Status.PENDING


def test_health_endpoints_answer(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/expiration/schema/").status_code == 404
