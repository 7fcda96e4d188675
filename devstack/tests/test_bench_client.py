"""The benchmark's HTTP client (bench/httpclient.py) and the gunicorn settings the stacks run."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack import profiles
from devstack.profiles import ROOT
from devstack.services import SERVICES, process_env, processes

sys.path.insert(0, str(ROOT / "bench"))
from httpclient import Client, Phase


class DroppingServer(ThreadingHTTPServer):
    """Answers 201, but closes a kept-alive connection without a word when a second request
    arrives on it (``drops`` times): a connection the server had just closed as idle."""

    daemon_threads = True

    def __init__(self, drops: int) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.drops = drops
        self.keys: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DroppingServer

    def setup(self) -> None:
        super().setup()
        self.answered = 0

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.keys.append(self.headers.get("Idempotency-Key"))
        if self.answered and self.server.drops:
            self.server.drops -= 1
            self.close_connection = True
            return
        self.answered += 1
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def server() -> Iterator[DroppingServer]:
    server = DroppingServer(drops=1)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_post_with_an_idempotency_key_is_sent_again_with_it(server):
    client, phase = Client(), Phase("test")
    client.call(phase, "POST", f"{server.url}/x", kind="first", json={})

    response = client.call(phase, "POST", f"{server.url}/x", kind="keyed", json={},
                           headers={"Idempotency-Key": "k-1"})

    assert response is not None and response.status_code == 201
    assert server.keys == [None, "k-1", "k-1"]
    assert phase.connection_errors == 1
    assert phase.statuses["keyed"] == {201: 1}
    assert "connection errors: 1, server errors: 0" in phase.errors_line()


def test_a_post_without_a_key_is_counted_not_resent(server):
    client, phase = Client(), Phase("test")
    client.call(phase, "POST", f"{server.url}/x", kind="first", json={})

    assert client.call(phase, "POST", f"{server.url}/x", kind="plain", json={}) is None
    assert server.keys == [None, None]
    assert phase.connection_errors == 1


def test_every_service_runs_gunicorn_with_the_shared_config_and_the_profile_size(monkeypatch):
    monkeypatch.setenv("TEST_WEB_WORKERS", "3")
    profile = profiles.load("test")
    for service in SERVICES:
        web = [str(arg) for arg in processes(service, profile)["web"]]
        assert web[web.index("--config") + 1] == "python:ticketing_shared.gunicorn_conf"
        assert web[web.index("--workers") + 1] == "3"
        folder = process_env(service, profile, "web")["PROMETHEUS_MULTIPROC_DIR"]
        assert folder.startswith(str(profile.data_dir)) and folder.endswith(service.name)
        assert process_env(service, profile, "consumer") == {}


def test_bench_phases_default_to_all_and_a_typo_is_refused():
    from phases import PHASES, chosen_phases

    assert chosen_phases("") == set(PHASES)
    assert chosen_phases(" ratio, sale ") == {"ratio", "sale"}
    with pytest.raises(SystemExit, match="unknown salee"):
        chosen_phases("ratio,salee")


def test_cpu_per_request_names_the_costliest_processes_first():
    from collections import Counter

    from cpu import per_request

    spent = Counter({"orders web": 1.2, "broker": 0.4, "postgres": 0.6, "bench client": 0.2})

    assert per_request(spent, 100, top=3) == "total 24.0 ms: orders web 12.0, postgres 6.0, broker 4.0, others 2.0"
    assert per_request(Counter(), 100) == "n/a"


def test_cpu_meter_counts_this_process_as_the_bench_client():
    from cpu import CpuMeter

    meter = CpuMeter()
    meter.start()
    sum(i * i for i in range(300_000))  # some CPU of our own
    spent = meter.stop()

    assert spent["bench client"] > 0


def test_a_progress_bar_is_drawn_for_many_items_and_not_for_one(capsys):
    from marketplace import Progress

    single = Progress("listing probe tickets", 1)
    single.add()
    assert capsys.readouterr().out == ""  # the latency probe lists 100 tickets one at a time

    bar = Progress("listing sale tickets", 4, step=2)
    for _ in range(4):
        bar.add()
    drawn = capsys.readouterr().out
    assert drawn.count("\r") == 3 and drawn.endswith("4/4\n")  # at 0, 2 and 4
