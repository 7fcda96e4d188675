"""Measures the event plumbing on the running local stack (``make bench``).

Runs inside the auth service's Django project (its database, outbox and Celery
worker), so the figures include the real relay task, Redis and the broker:

- raw producer rate: one idempotent producer, 200-byte JSON messages;
- relay drain rate: 20,000 outbox rows published by ``relay_outbox``;
- commit-to-consumer latency: single events published in a transaction, relayed by
  the worker the on-commit nudge wakes, timed until a consumer receives them;
- resident memory of every process of the stack;
- then the marketplace through its HTTP APIs (``marketplace``): baseline and ratio, the
  flash sale and its audit, buyer races, search.

``BENCH_PHASES`` (comma-separated, default all) runs some of them only, to measure one
change quickly: ``plumbing``, ``ratio``, ``sale``, ``races``, ``search`` (and ``lateness``,
which ``python -m devstack bench`` runs on a stack of its own afterwards).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / os.environ.get("BENCH_SERVICE_DIR", "auth_service")))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import marketplace  # noqa: E402
from confluent_kafka import Consumer, Producer  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from httpclient import Client, Phase  # noqa: E402
from phases import PHASES, chosen_phases  # noqa: E402

from ticketing_shared.events.models import OutboxEvent  # noqa: E402
from ticketing_shared.events.outbox import record_event  # noqa: E402
from ticketing_shared.events.relay import relay_outbox  # noqa: E402


def producer_rate(count: int = 50_000) -> float:
    producer = Producer({**settings.KAFKA["COMMON"], **settings.KAFKA["PRODUCER"]})
    topic = f"bench.raw.{uuid.uuid4().hex[:6]}"
    value = json.dumps({"id": str(uuid.uuid4()), "pad": "x" * 140}).encode()
    assert len(value) >= 190
    producer.produce(topic, value=value)  # creates the topic before the clock starts
    producer.flush(10)
    start = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, key=str(i % 1000), value=value)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 5000 == 0:
            producer.poll(0)
            marketplace.progress("raw producer", i, count)
    producer.flush(30)
    marketplace.progress("raw producer", count, count)
    return count / (time.perf_counter() - start)


def relay_rate(count: int = 20_000) -> float:
    event_type = f"bench.relay.{uuid.uuid4().hex[:6]}"
    now = timezone.now()
    rows = [
        OutboxEvent(
            aggregatetype="bench",
            aggregateid=str(uuid.uuid4()),
            type=event_type,
            payload={"n": i, "pad": "x" * 120},
            occurred_at=now,
        )
        for i in range(count)
    ]
    OutboxEvent.objects.bulk_create(rows, batch_size=5000)
    start = time.perf_counter()
    published = 0
    while published < count:
        published += relay_outbox()
        remaining = OutboxEvent.objects.filter(type=event_type, published_at__isnull=True).count()
        marketplace.progress("relay drain", count - remaining, count)
        if remaining == 0:
            break
    return count / (time.perf_counter() - start)


def commit_to_consumer_latency(samples: int = 200) -> list[float]:
    event_type = f"bench.latency.{uuid.uuid4().hex[:6]}"
    consumer = Consumer(
        {
            **settings.KAFKA["COMMON"],
            "group.id": f"bench-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # the services' own consumer settings, so the figure is what their handlers see
            "fetch.wait.max.ms": settings.KAFKA["CONSUMER"]["fetch.wait.max.ms"],
            "session.timeout.ms": 6000,
            "max.poll.interval.ms": 10000,
            "topic.metadata.refresh.interval.ms": 200,
        }
    )
    with transaction.atomic():  # warm-up event: creates the topic and joins the group
        record_event(aggregate_type="bench", aggregate_id="warmup", event_type=event_type, data={"n": -1})
    consumer.subscribe([event_type])
    _receive(consumer, -1, timeout=30)
    latencies = []
    for n in range(samples):
        with transaction.atomic():
            record_event(aggregate_type="bench", aggregate_id=str(n), event_type=event_type, data={"n": n})
        committed = time.perf_counter()
        _receive(consumer, n, timeout=10)
        latencies.append((time.perf_counter() - committed) * 1000)
        if n % 10 == 0 or n == samples - 1:
            marketplace.progress("commit-to-consumer", n + 1, samples)
    consumer.close()
    return latencies


def _receive(consumer: Consumer, n: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = consumer.poll(0.05)
        if message is None or message.error():
            continue
        if json.loads(message.value())["data"]["n"] == n:
            return
    raise TimeoutError(f"event {n} not received within {timeout} s: is the Celery worker running?")


def stack_memory_mb() -> tuple[float, float, int]:
    """Memory of every process of the stack: proportional set size (shared pages counted once,
    split between the processes sharing them) and the plain sum of resident sizes."""
    import psutil

    root = psutil.Process(int(os.environ["BENCH_STACK_PID"])) if os.environ.get("BENCH_STACK_PID") else None
    if root is None:
        return 0.0, 0.0, 0
    processes = [root, *root.children(recursive=True)]
    pss = rss = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            info = process.memory_full_info()
            pss, rss = pss + info.pss, rss + info.rss
    return pss / 2**20, rss / 2**20, len(processes)


def ticket_to_orderable_latency(seller: Client, buyer: Client, samples: int = 100) -> tuple[list[float], Phase]:
    """From ``POST /api/tickets`` returning to a buyer's ``POST /api/orders`` succeeding
    (404 until the orders service has the ticket)."""
    phase = Phase("ticket to orderable")
    latencies = []
    for n in range(samples):
        ticket_id = marketplace.list_tickets([seller], phase, f"Latency probe {uuid.uuid4().hex[:6]}", 1)[0]
        created = time.perf_counter()
        key = marketplace.idempotency_key()
        while True:
            response = buyer.call(phase, "POST", f"{marketplace.api('orders')}/api/orders", kind="reserve",
                                  json={"ticket_id": ticket_id}, headers=key)
            if response is not None and response.status_code != 404:
                break
            if time.perf_counter() - created > 30:
                raise TimeoutError(f"ticket {ticket_id} never reached the orders service")
            time.sleep(0.002)
        if response.status_code != 201:
            raise RuntimeError(f"reserving a new ticket answered {response.status_code}")
        latencies.append((time.perf_counter() - created) * 1000)
        if n % 10 == 0 or n == samples - 1:
            marketplace.progress("ticket to orderable", n + 1, samples)
    return latencies, phase


def main() -> None:
    phases = chosen_phases()
    print("Benchmark of the event plumbing and the marketplace (local stack)")
    print(f"load average at start: {' '.join(f'{load:.2f}' for load in os.getloadavg())} on {os.cpu_count()} cores")
    if phases != set(PHASES):
        print(f"phases: {', '.join(p for p in PHASES if p in phases)} (BENCH_PHASES)")
    pss, rss, processes = stack_memory_mb()  # at rest, before the load below grows the caches
    plumbing = "plumbing" in phases
    if plumbing:
        raw = producer_rate()
        drain = relay_rate()
        latencies = commit_to_consumer_latency()
    services = os.environ.get("BENCH_SERVICES", "")
    marketplace_up = all(name in services for name in ("auth", "tickets", "orders", "payments"))
    marketplace_up = marketplace_up and bool(phases & {"ratio", "sale", "races", "search"})
    summary = []
    ratio = sale = races = None
    problems: list[str] = []

    def show(lines: list[str]) -> None:
        """Each phase's figures as soon as it ends (a later failure keeps them), and again at the end."""
        print("\n".join(lines), flush=True)
        summary.extend(lines)

    if marketplace_up:
        signups = Phase("sign-ups")
        buyers = marketplace.sign_up_users(BUYERS + 4, signups)
        seller, buyers = buyers[:4], buyers[4:]  # four clients of... four sellers, listing in parallel
        show([f"sign-ups: {signups.errors_line()}"])
        if plumbing:
            orderable, orderable_phase = ticket_to_orderable_latency(seller[0], buyers[-1])
            show([f"ticket listed to orderable   {marketplace.p50_p99(orderable)}; {orderable_phase.errors_line()}"])
        if "ratio" in phases:
            ratio = marketplace.baseline_and_reservations(seller, buyers[:RATIO_CLIENTS])
            show(marketplace.report(ratio=ratio))
        if "sale" in phases:
            sale = marketplace.flash_sale(seller, buyers)
            problems = marketplace.audit_sale(sale["tickets"])
            show(marketplace.report(sale=sale, problems=problems))
        if "races" in phases:
            races = marketplace.buyer_races(seller, buyers[:RACERS])
            show(marketplace.report(races=races))
        if "search" in phases:
            search = marketplace.search_latency()
            show(marketplace.report(search=search))
    print()
    if plumbing:
        print(f"raw producer rate            {raw:>10,.0f} msg/s")
        print(f"relay drain rate (20k rows)  {drain:>10,.0f} events/s")
        print(f"relay / producer ratio       {drain / raw:>10.2f}   (target >= 0.5)")
        print(
            f"commit-to-consumer latency   p50 {statistics.median(latencies):.1f} ms, "
            f"p99 {marketplace.percentile(latencies, 99):.1f} ms   (target p50 < 50 ms, p99 < 250 ms)"
        )
    if processes:
        print(f"stack memory (PSS)           {pss:>10,.0f} MB in {processes} processes   (target < 1,500 MB; "
              f"RSS summed: {rss:,.0f} MB)")
    if not marketplace_up:
        return
    print("\n".join(summary))
    print(f"load average at end: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    failed = ((sale is not None and (sale["sold"] < len(sale["tickets"]) or problems))
              or (races is not None and races["created"] != races["rounds"])
              or (ratio is not None and ratio["failed"]))
    if failed:
        raise SystemExit("the marketplace did not do what it must (see above)")


BUYERS = 200  # the flash sale's concurrent buyers
RATIO_CLIENTS = 50  # baseline and reservations, the same clients
RACERS = 50

if __name__ == "__main__":
    main()
