"""Heartbeats of the consumer, worker and beat, and the healthcheck command that reads them."""

import os
import time

import pytest
from celery import _state as celery_state
from django.core.management import CommandError, call_command
from django_celery_beat.schedulers import DatabaseScheduler

from ticketing_shared import heartbeat
from ticketing_shared.beat import HeartbeatScheduler
from ticketing_shared.celery_app import WorkerHeartbeat, make_celery_app


@pytest.fixture(autouse=True)
def heartbeat_dir(settings, tmp_path, monkeypatch):
    settings.HEARTBEAT_DIR = str(tmp_path / "heartbeats")
    monkeypatch.setattr(heartbeat, "_last_touched", {})
    return tmp_path / "heartbeats"


def make_old(process: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(heartbeat.path(process), (then, then))


def test_touch_writes_a_file_per_service_and_process(heartbeat_dir):
    assert heartbeat.age("consumer") is None

    heartbeat.touch("consumer")

    assert (heartbeat_dir / "shared-test.consumer").exists()
    assert heartbeat.age("consumer") < 1
    assert heartbeat.age("worker") is None


def test_touch_writes_at_most_once_a_second(monkeypatch):
    heartbeat.touch("consumer")
    make_old("consumer", 30)

    heartbeat.touch("consumer")  # within the second: skipped
    assert heartbeat.age("consumer") > 29

    clock = time.monotonic() + heartbeat.MIN_INTERVAL_SECONDS
    monkeypatch.setattr(heartbeat.time, "monotonic", lambda: clock)
    heartbeat.touch("consumer")
    assert heartbeat.age("consumer") < 1


def test_touch_never_raises(settings, tmp_path):
    (tmp_path / "a-file").write_text("")
    settings.HEARTBEAT_DIR = str(tmp_path / "a-file" / "heartbeats")  # cannot be created

    heartbeat.touch("consumer")

    assert heartbeat.age("consumer") is None


def test_healthcheck_passes_on_a_fresh_heartbeat(capsys):
    heartbeat.touch("worker")

    call_command("healthcheck", "worker")

    assert capsys.readouterr().out.strip() == "worker alive (heartbeat 0 s ago)"


def test_healthcheck_fails_without_a_heartbeat():
    with pytest.raises(CommandError, match=r"^beat: no heartbeat yet \(.*shared-test\.beat does not exist\)$"):
        call_command("healthcheck", "beat")


def test_healthcheck_fails_on_a_stale_heartbeat():
    heartbeat.touch("consumer")
    make_old("consumer", 61)

    with pytest.raises(CommandError, match=r"^consumer: last heartbeat 61 s ago \(more than 60 s\)$"):
        call_command("healthcheck", "consumer")
    call_command("healthcheck", "consumer", max_age=90)
    with pytest.raises(CommandError, match="more than 5 s"):
        call_command("healthcheck", "consumer", "--max-age", "5")


def test_beat_touches_its_heartbeat_after_every_pass(monkeypatch):
    monkeypatch.setattr(DatabaseScheduler, "tick", lambda self, *args, **kwargs: 4.5)
    scheduler = HeartbeatScheduler.__new__(HeartbeatScheduler)  # the pass itself is django-celery-beat's

    assert scheduler.tick() == 4.5
    assert heartbeat.age("beat") < 1


def test_the_worker_touches_its_heartbeat_from_the_consumers_timer():
    class Timer:
        """The consumer's timer: fired from the worker's event loop."""

        def __init__(self):
            self.scheduled, self.cancelled = [], []

        def call_repeatedly(self, seconds, fun, args):
            self.scheduled.append((seconds, fun, args))
            return "tref"

        def cancel(self, tref):
            self.cancelled.append(tref)

    consumer = type("Consumer", (), {"timer": Timer()})()
    step = WorkerHeartbeat(consumer)

    step.start(consumer)
    assert heartbeat.age("worker") < 1
    assert consumer.timer.scheduled == [(5.0, heartbeat.touch, ("worker",))]
    step.stop(consumer)
    assert consumer.timer.cancelled == ["tref"]


def test_every_service_app_runs_the_heartbeats():
    previous = celery_state.get_current_app()
    try:
        app = make_celery_app("shared-test")
    finally:
        previous.set_current()  # other tests keep the app they had

    assert WorkerHeartbeat in app.steps["consumer"]
    assert app.conf.beat_scheduler == "ticketing_shared.beat:HeartbeatScheduler"
