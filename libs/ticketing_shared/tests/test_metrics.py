"""``/metrics``: labels that callers cannot multiply, and a port of its own behind the chart."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

from ticketing_shared.metrics import METHODS, OTHER_METHOD, UNMATCHED_ROUTE
from ticketing_shared.testing.helpers import wait_for

pytestmark = pytest.mark.django_db

LABELS = re.compile(r'^(http_requests_total|http_request_duration_seconds_\w+)\{(.*)\} ', re.MULTILINE)


def http_series(client) -> set[str]:
    """Every series of the HTTP metrics, as ``name{labels}``."""
    body = client.get("/metrics").content.decode()
    return {f"{name}{{{labels}}}" for name, labels in LABELS.findall(body)}


def test_made_up_methods_and_paths_add_a_bounded_number_of_series(client):
    client.generic("MADEUP", "/nowhere")  # the one value each collapses to exists from now on
    client.get("/nowhere")
    client.generic("MADEUP", "/api/demo/whoami")
    before = http_series(client)

    for n in range(200):
        client.generic(f"M{n}X", f"/made-up/{n}")
        client.get(f"/api/demo/no-such-thing/{n}")
        client.generic(f"N{n}Y", "/api/demo/whoami")
    after = http_series(client)

    assert after - before == set()  # 600 requests, no new series
    methods = set(re.findall(r'method="([^"]*)"', "".join(after)))
    assert methods <= METHODS | {OTHER_METHOD}
    assert f'method="{OTHER_METHOD}",route="{UNMATCHED_ROUTE}",status="404"' in "".join(after)


def test_a_known_route_keeps_its_pattern_and_method(client, authed_client):
    authed_client().get("/api/demo/whoami")

    assert 'http_requests_total{method="GET",route="api/demo/whoami",status="200"}' in "".join(http_series(client))


def test_with_a_metrics_port_metrics_answer_only_there(client, settings):
    settings.METRICS_PORT = 9102

    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", SERVER_PORT="9102").status_code == 200
    assert client.get("/healthz").status_code == 200  # the rest of the app does not care


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn():
    """The demo service under gunicorn, as the chart runs it: the app's port and a metrics port."""
    app_port, metrics_port = free_port(), free_port()
    database_url = f"{os.environ['DATABASE_URL'].rsplit('/', 1)[0]}/{connection.settings_dict['NAME']}"  # migrated
    env = {**os.environ, "METRICS_PORT": str(metrics_port), "DJANGO_SETTINGS_MODULE": "tests.project.settings",
           "DATABASE_URL": database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "django.core.wsgi:get_wsgi_application()",
         f"--bind=127.0.0.1:{app_port}", f"--bind=127.0.0.1:{metrics_port}", "--workers=1", "--threads=2",
         "--no-control-socket"],
        cwd=Path(__file__).resolve().parents[1], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def up() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{app_port}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(up, timeout=30)
        yield f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{metrics_port}"
    finally:
        process.terminate()
        process.wait(20)


def test_gunicorn_serves_metrics_on_the_metrics_port_only_whatever_the_host_header(gunicorn):
    app, metrics = gunicorn

    assert requests.get(f"{app}/metrics", timeout=10).status_code == 404
    spoofed = requests.get(f"{app}/metrics", headers={"Host": metrics.removeprefix("http://")}, timeout=10)
    assert spoofed.status_code == 404
    scrape = requests.get(f"{metrics}/metrics", timeout=10)
    assert scrape.status_code == 200
    assert "http_requests_total" in scrape.text


@pytest.fixture
def gunicorn_workers(tmp_path):
    """The demo service under gunicorn with three workers sharing a Prometheus folder, through
    the shared config file; the folder starts with a stale file of an earlier run in it."""
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"not a metrics file: an earlier run's leftovers")
    port = free_port()
    database_url = f"{os.environ['DATABASE_URL'].rsplit('/', 1)[0]}/{connection.settings_dict['NAME']}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.project.settings", "DATABASE_URL": database_url,
           "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "django.core.wsgi:get_wsgi_application()",
         "--config", "python:ticketing_shared.gunicorn_conf", f"--bind=127.0.0.1:{port}", "--workers=3",
         "--threads=1", "--no-control-socket"],
        cwd=Path(__file__).resolve().parents[1], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    app = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{app}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(up, timeout=120)  # three workers importing Django on a busy machine
        yield app, folder
    finally:
        process.terminate()
        process.wait(20)


def echo_total(app: str) -> float:
    """``http_requests_total`` of ``POST api/demo/echo`` answered 200, from one scrape."""
    body = requests.get(f"{app}/metrics", timeout=10).text
    line = 'http_requests_total{method="POST",route="api/demo/echo",status="200"} '
    return sum(float(row[len(line):]) for row in body.splitlines() if row.startswith(line))


def worker_pids(folder: Path) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob("counter_*.db")}


def test_several_gunicorn_workers_add_up_and_a_dead_workers_counts_stay(gunicorn_workers):
    from concurrent.futures import ThreadPoolExecutor

    app, folder = gunicorn_workers
    assert not (folder / "counter_999999.db").exists()  # emptied on start: not added to ours

    def echo(_: int) -> int:
        return requests.post(f"{app}/api/demo/echo", json={"title": "t", "price": "2.00"}, timeout=10).status_code

    # The first worker up may answer everything while the others still import Django (a busy
    # machine): post in rounds until a second worker has answered too.
    sent, deadline = 0, time.monotonic() + 120
    with ThreadPoolExecutor(6) as pool:
        while True:
            assert set(pool.map(echo, range(60))) == {200}
            sent += 60
            if len(worker_pids(folder)) >= 2 or time.monotonic() > deadline:
                break
    pids = worker_pids(folder)
    assert len(pids) >= 2  # more than one worker answered...
    assert [echo_total(app) for _ in range(6)] == [float(sent)] * 6  # ...and every scrape, whoever answers, adds up

    # A worker that dies: gunicorn's master marks it dead (its live gauges go), its counts stay.
    victim = min(pids)
    live_gauge = folder / f"gauge_livesum_{victim}.db"
    live_gauge.write_bytes(b"")
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: not live_gauge.exists(), timeout=60)
    assert echo(0) == 200
    assert [echo_total(app) for _ in range(6)] == [float(sent + 1)] * 6


def raw_request(app: str, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send bytes no HTTP client library would (they check what they send); read the answer."""
    host, port = app.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return status, headers, body


REFUSED_BY_THE_WEB_SERVER = {
    "414": b"GET /api/demo/whoami?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # request line too long
    "431": b"GET /api/demo/whoami HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",  # header too large
    "400": b"GET /api/demo/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\x01b\r\n\r\n",  # malformed header
}


def test_requests_the_web_server_refuses_are_answered_in_the_error_shape(gunicorn_workers):
    """gunicorn answers these itself, before Django: in the API's shape, not its HTML page."""
    app, _ = gunicorn_workers
    for status, request in REFUSED_BY_THE_WEB_SERVER.items():
        line, headers, body = raw_request(app, request)
        assert line.split(" ")[1] == status
        assert headers["content-type"] == "application/json"
        assert int(headers["content-length"]) == len(body)
        errors = json.loads(body)["errors"]
        assert len(errors) == 1 and errors[0]["message"], body
