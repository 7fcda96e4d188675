"""Measures the event plumbing on the running local stack (``make bench``).

Runs inside the auth service's Django project (its database, outbox and Celery
worker), so the figures include the real relay task, Redis and the broker:

- raw producer rate: one idempotent producer, 200-byte JSON messages;
- relay drain rate: 20,000 outbox rows published by ``relay_outbox``;
- commit-to-consumer latency: single events published in a transaction, relayed by
  the worker the on-commit nudge wakes, timed until a consumer receives them;
- resident memory of every process of the stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / os.environ.get("BENCH_SERVICE_DIR", "auth_service")))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from confluent_kafka import Consumer, Producer  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from ticketing_shared.events.models import OutboxEvent  # noqa: E402
from ticketing_shared.events.outbox import record_event  # noqa: E402
from ticketing_shared.events.relay import relay_outbox  # noqa: E402


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total)
    print(f"\r  {label:<28} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", flush=True)
    if done >= total:
        print()


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
            progress("raw producer", i, count)
    producer.flush(30)
    progress("raw producer", count, count)
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
        progress("relay drain", count - remaining, count)
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
            progress("commit-to-consumer", n + 1, samples)
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


# -- the marketplace through its HTTP APIs -------------------------------------------------

PASSWORD = "Bench-Password-2026"


def api(name: str) -> str:
    return os.environ[f"E2E_{name.upper()}_URL"]


def sign_up_users(count: int) -> list[requests.Session]:
    """Sessions that send a fresh user's token (sign-ups hash with Argon2: done in parallel)."""

    def sign_up(_: int) -> requests.Session:
        session = requests.Session()
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        response = session.post(f"{api('auth')}/api/users/signup", json={"email": email, "password": PASSWORD})
        response.raise_for_status()
        session.headers["Authorization"] = f"Bearer {response.json()['access']}"
        return session

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(sign_up, range(count)))


def list_ticket(seller: requests.Session, title: str) -> str:
    response = seller.post(f"{api('tickets')}/api/tickets", json={"title": title, "price": "10.00"})
    response.raise_for_status()
    return response.json()["id"]


def consumed(service: str, event_type: str) -> int:
    """How many ``event_type`` events ``service`` has applied, from its ``/metrics``."""
    body = requests.get(f"{api(service)}/metrics", timeout=10).text
    prefix = f'events_consumed_total{{type="{event_type}"}} '
    return next((int(float(line[len(prefix):])) for line in body.splitlines() if line.startswith(prefix)), 0)


def wait_consumed(service: str, event_type: str, count: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while consumed(service, event_type) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{service} applied fewer than {count} {event_type} events in {timeout:.0f} s")
        time.sleep(0.05)


def ticket_to_orderable_latency(seller: requests.Session, buyer: requests.Session, samples: int = 200) -> list[float]:
    """From ``POST /api/tickets`` returning to a buyer's ``POST /api/orders`` succeeding
    (404 until the orders service has the ticket)."""
    latencies = []
    for n in range(samples):
        ticket_id = list_ticket(seller, f"Latency probe {n}")
        created = time.perf_counter()
        while (status := buyer.post(f"{api('orders')}/api/orders", json={"ticket_id": ticket_id}).status_code) == 404:
            if time.perf_counter() - created > 30:
                raise TimeoutError(f"ticket {ticket_id} never reached the orders service")
            time.sleep(0.002)
        if status != 201:
            raise RuntimeError(f"reserving a new ticket answered {status}")
        latencies.append((time.perf_counter() - created) * 1000)
        if n % 10 == 0 or n == samples - 1:
            progress("ticket to orderable", n + 1, samples)
    return latencies


def reservation_rate(seller: requests.Session, buyers: list[requests.Session], per_client: int = 25) -> float:
    """Requests per second of ``POST /api/orders`` from 20 concurrent clients on distinct tickets."""
    clients = buyers[:20]
    total = len(clients) * per_client
    known = consumed("orders", "ticket.created")
    tickets = []
    for n in range(total):
        tickets.append(list_ticket(seller, f"Throughput {n}"))
        if n % 50 == 0 or n == total - 1:
            progress("listing tickets", n + 1, total)
    wait_consumed("orders", "ticket.created", known + total)
    done = 0
    lock = threading.Lock()

    def reserve(index: int) -> int:
        nonlocal done
        failures = 0
        for ticket_id in tickets[index::len(clients)]:
            if clients[index].post(f"{api('orders')}/api/orders", json={"ticket_id": ticket_id}).status_code != 201:
                failures += 1
            with lock:
                done += 1
                if done % 50 == 0 or done == total:
                    progress("reserving", done, total)
        return failures

    started = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        failures = sum(pool.map(reserve, range(len(clients))))
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{failures} reservations of free tickets failed")
    return total / elapsed


def buyer_races(seller: requests.Session, buyers: list[requests.Session], rounds: int = 20) -> tuple[int, int]:
    """``rounds`` times, every buyer posts for one fresh ticket at the same instant.
    Returns (orders created, server errors): exactly ``rounds`` and 0 are right."""
    created = errors = 0
    for n in range(rounds):
        known = consumed("orders", "ticket.created")
        ticket_id = list_ticket(seller, f"Race {n}")
        wait_consumed("orders", "ticket.created", known + 1)
        barrier = threading.Barrier(len(buyers))

        def attempt(buyer: requests.Session, barrier=barrier, ticket_id=ticket_id) -> int:
            barrier.wait()
            return buyer.post(f"{api('orders')}/api/orders", json={"ticket_id": ticket_id}).status_code

        with ThreadPoolExecutor(len(buyers)) as pool:
            statuses = list(pool.map(attempt, buyers))
        created += statuses.count(201)
        errors += sum(1 for status in statuses if status >= 500)
        progress(f"{len(buyers)}-buyer races", n + 1, rounds)
    return created, errors


def payment_rate(seller: requests.Session, buyers: list[requests.Session], count: int = 100,
                 clients: int = 10) -> float:
    """Requests per second of ``POST /api/payments`` (card ``pm_card_visa``, charged on the Stripe
    double) from ``clients`` concurrent buyers, each paying its own reserved orders."""
    payers = buyers[:clients]
    orders: list[tuple[requests.Session, str]] = []
    known_tickets, known_orders = consumed("orders", "ticket.created"), consumed("payments", "order.created")
    tickets = [list_ticket(seller, f"Payment {n}") for n in range(count)]
    wait_consumed("orders", "ticket.created", known_tickets + count)
    for n, ticket_id in enumerate(tickets):
        buyer = payers[n % clients]
        response = buyer.post(f"{api('orders')}/api/orders", json={"ticket_id": ticket_id})
        response.raise_for_status()
        orders.append((buyer, response.json()["id"]))
        if n % 10 == 0 or n == count - 1:
            progress("reserving to pay", n + 1, count)
    wait_consumed("payments", "order.created", known_orders + count)
    done = 0
    lock = threading.Lock()

    def pay(index: int) -> int:
        nonlocal done
        failures = 0
        for buyer, order_id in orders[index::clients]:
            response = buyer.post(f"{api('payments')}/api/payments",
                                  json={"order_id": order_id, "payment_method": "pm_card_visa"})
            failures += response.status_code != 201
            with lock:
                done += 1
                if done % 10 == 0 or done == count:
                    progress("paying", done, count)
        return failures

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        failures = sum(pool.map(pay, range(clients)))
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{failures} payments failed")
    return count / elapsed


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> None:
    print("Benchmark of the event plumbing and the marketplace (local stack)")
    pss, rss, processes = stack_memory_mb()  # at rest, before the load below grows the caches
    raw = producer_rate()
    drain = relay_rate()
    latencies = commit_to_consumer_latency()
    marketplace = "tickets" in os.environ.get("BENCH_SERVICES", "") and "orders" in os.environ.get("BENCH_SERVICES", "")
    if marketplace:
        seller, *buyers = sign_up_users(51)
        orderable = ticket_to_orderable_latency(seller, buyers[-1])
        reservations = reservation_rate(seller, buyers)
        races_created, race_errors = buyer_races(seller, buyers)
    paying = "payments" in os.environ.get("BENCH_SERVICES", "")
    if marketplace and paying:
        payments = payment_rate(seller, buyers)
    print()
    print(f"raw producer rate            {raw:>10,.0f} msg/s")
    print(f"relay drain rate (20k rows)  {drain:>10,.0f} events/s")
    print(f"relay / producer ratio       {drain / raw:>10.2f}   (target >= 0.5)")
    print(
        f"commit-to-consumer latency   p50 {statistics.median(latencies):.1f} ms, "
        f"p99 {percentile(latencies, 99):.1f} ms   (target p50 < 50 ms, p99 < 250 ms)"
    )
    if processes:
        print(f"stack memory (PSS)           {pss:>10,.0f} MB in {processes} processes   (target < 1,500 MB; "
              f"RSS summed: {rss:,.0f} MB)")
    if marketplace:
        p50, p99 = statistics.median(orderable), percentile(orderable, 99)
        print(f"ticket listed to orderable   p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        print(f"reservations, 20 clients     {reservations:>10,.0f} requests/s")
        print(f"50-buyer race x 20           {races_created:>10} orders created (must be 20), "
              f"{race_errors} server errors")
    if marketplace and paying:
        print(f"payments, 10 clients         {payments:>10,.1f} requests/s (charged on the Stripe double)")


if __name__ == "__main__":
    main()
