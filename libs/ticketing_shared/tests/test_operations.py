"""What operators rely on: request ids across events, metrics, admin sign-in, re-publishing, replays."""

import json
import logging
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from ticketing_shared import admin_sso
from ticketing_shared.events import relay
from ticketing_shared.events.models import DeadLetter, OutboxEvent, ParkedEvent, ProcessedEvent
from ticketing_shared.events.outbox import record_event
from ticketing_shared.testing.helpers import access_token, envelope, produce_raw

from .conftest import AppliedLog, wait_for, widget_created

pytestmark = pytest.mark.django_db(transaction=True)


# request ids


def test_a_request_id_travels_from_the_request_through_kafka_into_the_consumers_logs(
    authed_client, kafka_reader, topics, run_consumer, caplog
):
    client = authed_client()
    response = client.post("/api/demo/widgets", {"topic": topics["created"], "name": "traced"}, format="json",
                           HTTP_X_REQUEST_ID="req-42.trace")

    assert response.status_code == 201
    assert response["X-Request-ID"] == "req-42.trace"
    assert OutboxEvent.objects.get().headers == {"request_id": "req-42.trace"}
    assert relay.relay_outbox() == 1
    [message] = kafka_reader(topics["created"]).read(1)
    assert message["headers"]["request_id"] == "req-42.trace"

    with caplog.at_level(logging.INFO, logger="ticketing_shared.events.consumer"):
        run_consumer()
        wait_for(lambda: AppliedLog.objects.exists())
        record = wait_for(lambda: next((r for r in caplog.records if r.getMessage().startswith("Applied")), None))
    assert record.request_id == "req-42.trace"


def test_a_request_without_an_id_gets_a_fresh_one_and_a_bad_one_is_replaced(api_client):
    first, second = api_client.get("/healthz"), api_client.get("/healthz", HTTP_X_REQUEST_ID="bad id\n")

    assert len(first["X-Request-ID"]) == 32
    assert second["X-Request-ID"] != "bad id\n"
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_log_lines_are_json_with_service_level_and_request_id(settings):
    from ticketing_shared import requestid
    from ticketing_shared.conf import logging_settings

    config = logging_settings("demo")
    formatter_config = dict(config["formatters"]["json"])
    factory = formatter_config.pop("()")
    module, name = factory.rsplit(".", 1)
    formatter = getattr(__import__(module, fromlist=[name]), name)(**formatter_config)
    record = logging.LogRecord("orders", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    with requestid.bound("abc-123"):
        requestid.RequestIdLogFilter().filter(record)

    line = json.loads(formatter.format(record))
    assert line["message"] == "hello world"
    assert line["level"] == "WARNING"
    assert line["service"] == "demo"
    assert line["request_id"] == "abc-123"
    assert "time" in line


# metrics


def metric(client, name: str) -> float:
    body = client.get("/metrics").content.decode()
    values = [float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(name + " ")
              or line.startswith(name + "{")]
    return sum(values)


def test_metrics_expose_the_outbox_backlog_and_follow_it(client, topics, kafka_broker):
    assert metric(client, "outbox_pending_events") == 0
    with transaction.atomic():
        for version in range(3):
            record_event(aggregate_type="widget", aggregate_id=uuid.uuid4(), event_type=topics["created"],
                    data={"id": str(uuid.uuid4()), "name": "m", "version": version})
    OutboxEvent.objects.update(occurred_at=OutboxEvent.objects.first().occurred_at.replace(year=2020))

    assert metric(client, "outbox_pending_events") == 3
    assert metric(client, "outbox_oldest_pending_age_seconds") > 3600
    relay.relay_outbox()
    assert metric(client, "outbox_pending_events") == 0
    assert metric(client, "outbox_oldest_pending_age_seconds") == 0


def test_metrics_count_requests_consumed_events_and_dead_letters(client, authed_client):
    authed_client().get("/api/demo/whoami")
    ProcessedEvent.objects.create(event_id=uuid.uuid4(), type="widget.created")
    DeadLetter.objects.create(topic="t", partition=0, offset=1, value="x", error="bad", event_type="widget.created",
                              fingerprint="message:1")
    ParkedEvent.objects.create(event_id=uuid.uuid4(), event_type="widget.updated", topic="t", partition=0, offset=2,
                               key="k", value="{}", reason=ParkedEvent.Reason.EARLY,
                               first_seen_at=timezone.now() - timedelta(seconds=90), next_attempt_at=timezone.now())

    body = client.get("/metrics").content.decode()

    assert 'http_requests_total{method="GET",route="api/demo/whoami",status="200"}' in body
    assert 'events_consumed_total{type="widget.created"} 1.0' in body
    assert 'dead_letters{status="pending",type="widget.created"} 1.0' in body
    assert 'parked_events{reason="early",type="widget.updated"} 1.0' in body
    assert metric(client, "parked_oldest_age_seconds") >= 90
    assert client.get("/metrics")["Content-Type"].startswith("text/plain")


# admin single sign-on


class FakeAuthService(BaseHTTPRequestHandler):
    """Answers ``/api/users/signin`` and ``/api/users/operator-status`` like the auth service,
    for the accounts in ``accounts``; a test revokes (``is_staff``), deactivates
    (``is_active``) or deletes one there, and ``status_calls`` lists what was asked."""

    accounts: dict = {}
    status_calls: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/api/users/operator-status":
            self._status(body["refresh"])
        else:
            self._signin(body["email"], body["password"])

    def _signin(self, email, password):
        account = self.accounts.get((email, password))
        if account is None or not account.get("is_active", True):
            self._answer(400, {"errors": [{"message": "Invalid credentials"}]})
        else:
            claims = {name: account[name] for name in ("user_id", "is_staff", "is_superuser") if name in account}
            self._answer(200, {"id": account["user_id"], "email": email, "refresh": refresh_token_of(account),
                               "access": access_token(email=email, **claims)})

    def _status(self, refresh):
        FakeAuthService.status_calls.append(refresh)
        account = next((a for a in self.accounts.values() if refresh_token_of(a) == refresh), None)
        if account is None or not account.get("is_active", True):
            self._answer(401, {"errors": [{"message": "No active account found for this token."}]})
        else:
            self._answer(200, {"id": account["user_id"], "is_staff": account["is_staff"],
                               "is_superuser": account.get("is_superuser", False)})

    def _answer(self, status, body):
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def refresh_token_of(account: dict) -> str:
    return f"refresh-{account['user_id']}"


@pytest.fixture
def auth_service(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAuthService)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.AUTH_SERVICE_URL = f"http://127.0.0.1:{server.server_port}"
    FakeAuthService.accounts = {
        ("ops@example.com", "right"): {"user_id": str(uuid.uuid4()), "is_staff": True, "is_superuser": True},
        ("ann@example.com", "right"): {"user_id": str(uuid.uuid4()), "is_staff": False},
    }
    FakeAuthService.status_calls = []
    yield FakeAuthService.accounts
    server.shutdown()
    server.server_close()


def test_a_staff_user_of_the_auth_service_enters_the_admin(client, auth_service):
    response = client.post("/admin/login/?next=/admin/", {"username": "ops@example.com", "password": "right"})

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    mirror = get_user_model().objects.get(username="ops@example.com")
    assert mirror.is_staff and mirror.is_superuser
    assert not mirror.has_usable_password()


@pytest.mark.parametrize(("email", "password"), [("ann@example.com", "right"), ("ops@example.com", "wrong")])
def test_non_staff_users_and_wrong_passwords_stay_out(client, auth_service, email, password):
    response = client.post("/admin/login/?next=/admin/", {"username": email, "password": password})

    assert response.status_code == 200  # the form again, with its error
    assert client.get("/admin/").status_code == 302
    assert not get_user_model().objects.exists()


def test_an_unreachable_auth_service_lets_nobody_in(settings):
    settings.AUTH_SERVICE_URL = "http://127.0.0.1:9"

    assert authenticate(None, username="ops@example.com", password="right") is None


# admin sessions re-validated at the auth service

OPERATOR = ("ops@example.com", "right")


def sign_in_to_the_admin(client) -> None:
    response = client.post("/admin/login/?next=/admin/", {"username": OPERATOR[0], "password": OPERATOR[1]})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def last_confirmed(client, seconds_ago: float) -> None:
    """Date the session's last confirmation back, as if that much time had passed."""
    session = client.session
    session[admin_sso.SESSION_STATE]["confirmed_at"] = time.time() - seconds_ago
    session.save()


def signed_out(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("change", ["revoke", "deactivate", "delete"])
def test_an_operator_revoked_in_the_auth_service_loses_an_open_admin_session_within_the_interval(
    client, auth_service, change
):
    sign_in_to_the_admin(client)
    refresh = refresh_token_of(auth_service[OPERATOR])
    letter = DeadLetter.objects.create(topic="t", partition=0, offset=1, value="x", error="bad", fingerprint="m:1")
    if change == "revoke":  # make_staff --revoke
        auth_service[OPERATOR].update(is_staff=False, is_superuser=False)
    elif change == "deactivate":
        auth_service[OPERATOR]["is_active"] = False
    else:
        del auth_service[OPERATOR]

    assert client.get("/admin/").status_code == 200  # confirmed less than a minute ago: not asked yet
    assert FakeAuthService.status_calls == []
    last_confirmed(client, 61)
    response = client.post("/admin/events/deadletter/", {"action": "discard", "_selected_action": [letter.pk]})

    assert signed_out(response)
    assert FakeAuthService.status_calls == [refresh]  # asked once, with the sign-in's token
    letter.refresh_from_db()
    assert letter.status == DeadLetter.Status.PENDING  # the action did not run
    assert signed_out(client.get("/admin/"))  # and the session is gone for good
    assert admin_sso.REVOKED_MESSAGE in [str(m) for m in client.get("/admin/login/").context["messages"]]


def test_a_confirmed_operator_keeps_the_session_and_is_asked_again_only_after_the_interval(client, auth_service):
    sign_in_to_the_admin(client)
    last_confirmed(client, 61)

    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/").status_code == 200
    assert len(FakeAuthService.status_calls) == 1  # the answer counts for another minute


def test_a_superuser_demoted_to_staff_in_the_auth_service_is_demoted_here(client, auth_service):
    sign_in_to_the_admin(client)
    auth_service[OPERATOR]["is_superuser"] = False
    last_confirmed(client, 61)

    assert client.get("/admin/").status_code == 200
    assert not get_user_model().objects.get(username=OPERATOR[0]).is_superuser


def test_while_the_auth_service_is_down_a_session_lasts_the_grace_then_ends(client, auth_service, settings):
    sign_in_to_the_admin(client)
    settings.AUTH_SERVICE_URL = "http://127.0.0.1:9"  # nothing listens there

    last_confirmed(client, 61)
    assert client.get("/admin/").status_code == 200  # within 60 s + 60 s of grace
    last_confirmed(client, 121)
    assert signed_out(client.get("/admin/"))


def test_a_session_opened_before_re_validation_existed_ends(client, auth_service):
    sign_in_to_the_admin(client)
    session = client.session
    del session[admin_sso.SESSION_STATE]
    session.save()

    assert signed_out(client.get("/admin/"))


# re-publishing and replaying


def test_republish_sends_a_range_again_with_the_same_ids(kafka_broker, kafka_reader, topics):
    with transaction.atomic():
        events = [record_event(aggregate_type="widget", aggregate_id="w1", event_type=topics["created"],
                          data={"id": "w1", "name": "n", "version": n}) for n in range(4)]
    relay.relay_outbox()

    call_command("republish_events", "--from-seq", str(events[1].seq), "--to-seq", str(events[2].seq))

    messages = kafka_reader(topics["created"]).read(6)
    assert [m["value"]["data"]["version"] for m in messages] == [0, 1, 2, 3, 1, 2]
    assert messages[4]["value"]["id"] == str(events[1].id)
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()


def test_replay_dead_letters_applies_each_once(topics, run_consumer, settings):
    settings.CONSUMER = {**settings.CONSUMER, "RETRY_ATTEMPTS": 1}
    widget_id = uuid.uuid4()
    produce_raw(topics["created"], envelope(topics["created"], {"id": str(widget_id), "name": "x", "version": 0}))

    def broken(event):
        raise ValueError("bug")

    run_consumer(handlers={topics["created"]: broken})
    wait_for(lambda: DeadLetter.objects.exists())
    from ticketing_shared.events import registry

    registry._handlers[topics["created"]] = widget_created
    try:
        call_command("replay_dead_letters")
        call_command("replay_dead_letters")
    finally:
        del registry._handlers[topics["created"]]
    assert AppliedLog.objects.count() == 1
    assert DeadLetter.objects.get().status == DeadLetter.Status.REPLAYED


def test_the_relay_command_publishes_everything_even_while_another_relay_holds_the_lock(topics, kafka_reader):
    import psycopg
    from django.db import connection

    with transaction.atomic():
        for version in range(3):
            record_event(aggregate_type="widget", aggregate_id="w9", event_type=topics["created"],
                    data={"id": "w9", "name": "n", "version": version})
    params = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
    other = psycopg.connect(**params, autocommit=True)
    other.execute("SELECT pg_advisory_lock(%s)", [relay.DRAIN_LOCK_KEY])
    threading.Timer(1.0, other.close).start()  # the other relay finishes a second later

    call_command("relay_outbox")

    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()
    assert len(kafka_reader(topics["created"]).read(3)) == 3
