"""``Idempotency-Key``: one effect per key and user, the first answer replayed, on real PostgreSQL."""

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from tests.project import urls as demo
from tests.project.demo.models import Widget
from ticketing_shared import errors
from ticketing_shared.idempotency import BEAT_SCHEDULE, RETENTION
from ticketing_shared.idempotency.keys import fingerprint, prune
from ticketing_shared.idempotency.models import IdempotencyKey
from ticketing_shared.testing.helpers import run_concurrently

pytestmark = pytest.mark.django_db

URL = "/api/demo/widgets/once"
USER, OTHER = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture
def user(authed_client):
    return authed_client(user_id=USER)


def make(client, body=None, key="key-1", path=URL):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(path, body if body is not None else {"name": "first"}, format="json", **headers)


def test_a_repeat_returns_the_first_answer_and_makes_nothing(user):
    first = make(user)
    again = make(user)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert list(Widget.objects.values_list("id", flat=True)) == [uuid.UUID(first.json()["id"])]
    assert IdempotencyKey.objects.get().state == "done"


def test_the_same_body_in_another_key_order_or_spacing_is_the_same_request(user):
    first = user.post(URL, data='{"name": "first", "sleep": 0}', content_type="application/json",
                      HTTP_IDEMPOTENCY_KEY="k")
    again = user.post(URL, data='{ "sleep":0,\n "name":"first" }', content_type="application/json",
                      HTTP_IDEMPOTENCY_KEY="k")

    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Widget.objects.count() == 1


@pytest.mark.parametrize("second", [{"name": "second"}, {"name": "first", "extra": 1}, {}])
def test_the_same_key_with_another_body_is_422_and_makes_nothing(user, second):
    make(user)

    response = make(user, second)

    assert response.status_code == 422
    assert response.json() == {"errors": [{"message": "This Idempotency-Key was already used for a different request"}]}
    assert Widget.objects.count() == 1


def test_keys_are_per_user(user, authed_client):
    other = authed_client(user_id=OTHER)

    mine, theirs = make(user), make(other)

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert Widget.objects.count() == 2
    assert "Idempotent-Replayed" not in theirs


def test_without_a_key_every_request_runs(user):
    assert make(user, key=None).status_code == make(user, key=None).status_code == 201

    assert Widget.objects.count() == 2
    assert not IdempotencyKey.objects.exists()


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "clé", "tab\tkey"])
def test_a_key_that_cannot_be_one_is_400_and_makes_nothing(user, key):
    response = make(user, key=key)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Idempotency-Key must be 1 to 255 visible ASCII characters"}]}
    assert not Widget.objects.exists() and not IdempotencyKey.objects.exists()


def test_the_longest_key_is_accepted(user):
    assert make(user, key="~" * 255).status_code == 201


def test_a_refusal_is_not_kept_so_a_retry_runs_again(user, monkeypatch):
    def refuse(widget):
        raise errors.InvalidState("Not now")

    monkeypatch.setattr(demo, "during_make_widget", refuse)
    refused = make(user)
    monkeypatch.undo()
    retried = make(user)

    assert refused.status_code == 400
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert Widget.objects.count() == 1


def test_the_effect_and_the_kept_answer_commit_together(user, monkeypatch):
    """A failure after the effect was written undoes the effect and lets the key go: nothing half-done."""

    def crash(widget):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(demo, "during_make_widget", crash)
    assert make(user).status_code == 500

    assert not Widget.objects.exists() and not IdempotencyKey.objects.exists()
    monkeypatch.undo()
    assert make(user).status_code == 201
    assert Widget.objects.count() == 1


def test_a_request_that_lost_its_key_to_another_rolls_its_effect_back(user, monkeypatch):
    """Its lease ran out and another request holds the key now: only that one may make the widget."""

    def taken_over(widget):
        IdempotencyKey.objects.update(token=uuid.uuid4())

    monkeypatch.setattr(demo, "during_make_widget", taken_over)
    response = make(user)

    assert response.status_code == 409
    assert not Widget.objects.exists()


def held_key(user_id: str, body: dict, *, lease_until) -> IdempotencyKey:
    """The row a request holding the key (alive, or dead) leaves behind."""
    return IdempotencyKey.objects.create(
        user_id=user_id, key="key-1", fingerprint=fingerprint("POST", URL, body), token=uuid.uuid4(),
        lease_until=lease_until,
    )


def test_a_duplicate_while_the_first_runs_is_409(user):
    held_key(USER, {"name": "first"}, lease_until=timezone.now() + timedelta(seconds=30))

    response = make(user)

    assert response.status_code == 409
    assert response.json() == {
        "errors": [{"message": "A request with this Idempotency-Key is still in progress; try again in a moment"}]
    }
    assert not Widget.objects.exists()


def test_a_key_held_by_a_request_that_died_is_taken_over_after_its_lease(user):
    held_key(USER, {"name": "first"}, lease_until=timezone.now() - timedelta(seconds=1))

    response = make(user)

    assert response.status_code == 201
    assert Widget.objects.count() == 1
    assert IdempotencyKey.objects.get().state == "done"


def test_a_key_is_kept_for_a_day_then_forgotten(user):
    make(user)
    IdempotencyKey.objects.update(created_at=timezone.now() - RETENTION - timedelta(seconds=1))

    response = make(user, {"name": "a day later"})

    assert response.status_code == 201 and response.json()["name"] == "a day later"
    assert Widget.objects.count() == 2


def test_prune_deletes_only_keys_older_than_a_day(user):
    make(user, key="old")
    make(user, key="new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - RETENTION - timedelta(minutes=1))

    assert prune() == 1

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    assert BEAT_SCHEDULE["prune-idempotency-keys"]["task"] == "idempotency.prune"


def test_the_answer_is_kept_after_the_effect_when_it_cannot_be_one_transaction(user):
    first = make(user, path=f"{URL}?atomic=0")
    again = make(user, path=f"{URL}?atomic=0")

    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Widget.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_make_one_widget(make_token):
    """Eight copies of one request at the same instant: one runs, the others wait and replay or get 409."""
    token = make_token(user_id=USER)
    clients = []
    for _ in range(8):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        clients.append(client)

    def send(client):
        response = make(client, {"name": "raced", "sleep": 0.3})
        return response.status_code, response.json()

    results = run_concurrently(send, clients)

    assert Widget.objects.count() == 1
    assert {status for status, _ in results} <= {201, 409}
    made = [body for status, body in results if status == 201]
    assert made and all(body == made[0] for body in made)
    assert made[0]["id"] == str(Widget.objects.get().id)


def test_the_migrations_match_the_model():
    call_command("makemigrations", "idempotency", "--check", "--dry-run", verbosity=0)
