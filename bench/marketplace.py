"""The marketplace under load, through its HTTP APIs (``make bench``; see the README's Benchmark section).

- baseline: ``POST /_bench/baseline`` on the orders service (one row, one transaction, the
  same gunicorn and database) against reservations of distinct free tickets, from the same
  clients: the ratio says how much of the stack's write capacity a reservation takes;
- flash sale: 1,000 tickets, 200 buyers racing to reserve and pay until every ticket is
  sold, then the databases are checked (no ticket sold twice, every payment's order complete);
- races: every buyer posting for one fresh ticket at the same instant;
- search: ``GET /api/tickets`` with words and filters over 100,000 free tickets.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import jwt
import psycopg
import requests
from cpu import CpuMeter, per_request, settle
from httpclient import Client, Phase, idempotency_key

PASSWORD = "Bench-Password-2026"
CORES = os.cpu_count() or 1


def api(name: str) -> str:
    return os.environ[f"E2E_{name.upper()}_URL"]


def database(name: str) -> psycopg.Connection:
    """A connection to one service's database (same server as the stack's, by ``DATABASE_URL``)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return psycopg.connect(urlunsplit(parts._replace(path=f"/{name}")), autocommit=True)


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    print(f"\r  {label:<28} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", flush=True)
    if done >= total:
        print()


class Progress:
    """A thread-safe progress bar that redraws every ``step`` items."""

    def __init__(self, label: str, total: int, step: int = 10) -> None:
        self.label, self.total, self.step = label, total, step
        self.done = 0
        self.lock = threading.Lock()
        self.shown = total > 1  # one item is not worth a bar (the latency probe lists 100 tickets one by one)
        if self.shown:
            progress(label, 0, total)

    def add(self, n: int = 1) -> None:
        with self.lock:
            before, self.done = self.done, min(self.total, self.done + n)
            if not self.shown:
                return
            if self.done // self.step != before // self.step or self.done == self.total:
                progress(self.label, self.done, self.total)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def p50_p99(values: list[float]) -> str:
    return f"p50 {statistics.median(values) if values else float('nan'):.1f} ms, p99 {percentile(values, 99):.1f} ms"


def parallel(work: Callable[[int], object], count: int, workers: int) -> list:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(work, range(count)))


# -- people and tickets --------------------------------------------------------------------


SIGNED_UP = 8  # users made through the auth service's API; the others get tokens minted below


def mint_token(private_key: str) -> str:
    """An access token for a new user id, signed with the stack's own key, as the auth service
    signs them: the services verify tokens, they never look users up. (A sign-up hashes its
    password with Argon2 on purpose; 200 of them took minutes on two busy cores.)"""
    now = int(time.time())
    claims = {"token_type": "access", "iat": now, "exp": now + 4 * 3600, "jti": uuid.uuid4().hex,
              "user_id": str(uuid.uuid4()), "email": f"bench-{uuid.uuid4().hex[:12]}@example.com",
              "is_staff": False, "is_superuser": False, "iss": os.environ.get("JWT_ISSUER", "ticketing-auth")}
    return jwt.encode(claims, private_key, algorithm="RS256")


def sign_up_users(count: int, phase: Phase) -> list[Client]:
    """Clients of fresh users: the first few sign up through the API (hashing with Argon2, a few
    at a time), the rest hold minted tokens when the stack's signing key is at hand."""
    key_file = os.environ.get("BENCH_JWT_PRIVATE_KEY_FILE")
    private_key = Path(key_file).read_text() if key_file else ""
    minted = [Client(mint_token(private_key)) for _ in range(count - SIGNED_UP)] if private_key else []
    count -= len(minted)
    bar = Progress("signing up users", count)

    def sign_up(_: int) -> Client:
        while True:  # a sign-up lost to a connection error is tried again with another email
            client = Client()
            email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
            response = client.call(phase, "POST", f"{api('auth')}/api/users/signup", kind="signup",
                                   json={"email": email, "password": PASSWORD})
            if response is not None:
                response.raise_for_status()
                bar.add()
                return Client(response.json()["access"])

    return parallel(sign_up, count, 4) + minted


def list_tickets(seller: list[Client], phase: Phase, prefix: str, count: int, price: str = "10.00") -> list[str]:
    """``count`` tickets titled ``<prefix> #n``, listed by the seller's clients in parallel; their ids,
    read back from the tickets database (a listing lost to a connection error is listed again, and
    one the server made anyway is simply one more ticket on sale)."""
    bar = Progress(f"listing {prefix.split()[0].lower()} tickets", count, step=50)

    def list_one(n: int) -> None:
        client = seller[n % len(seller)]
        while client.call(phase, "POST", f"{api('tickets')}/api/tickets", kind="list",
                          json={"title": f"{prefix} #{n}", "price": price}) is None:
            pass
        bar.add()

    parallel(list_one, count, len(seller))
    with database("tickets") as conn:
        rows = conn.execute("SELECT id FROM tickets_ticket WHERE title LIKE %s ORDER BY created_at, id",
                            [f"{prefix} #%"]).fetchall()
    return [str(row[0]) for row in rows]


def wait_orderable(ticket_ids: list[str], timeout: float = 180.0) -> None:
    """Until the orders service has every ticket (its replicas, filled from ``ticket.created``)."""
    deadline = time.monotonic() + timeout
    with database("orders") as conn:
        while True:
            known = conn.execute("SELECT count(*) FROM orders_ticket WHERE id = ANY(%s::uuid[])",
                                 [ticket_ids]).fetchone()[0]
            progress("tickets reaching orders", known, len(ticket_ids))
            if known >= len(ticket_ids):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the orders service has {known} of {len(ticket_ids)} tickets after {timeout:.0f} s")
            time.sleep(0.2)


# -- baseline and ratio ----------------------------------------------------------------------


def rate(phase: Phase, clients: list[Client], requests_per_client: int, send: Callable[[Client, int], None],
         label: str, cpu: dict[str, str] | None = None) -> float:
    """Requests per second of ``send(client, n)`` from every client at once; with ``cpu``, also
    where the CPU went per request (``cpu[label]``, see :mod:`cpu`)."""
    total = len(clients) * requests_per_client
    settle()  # the previous phase's events are handled: each phase pays for its own
    bar = Progress(label, total, step=50)
    meter = CpuMeter()

    def run(index: int) -> None:
        for n in range(requests_per_client):
            send(clients[index], index * requests_per_client + n)
            bar.add()

    meter.start()
    started = time.perf_counter()
    parallel(run, len(clients), len(clients))
    elapsed = time.perf_counter() - started
    if cpu is not None:
        settle()  # what the requests caused downstream (events, replicas) counts as theirs
        cpu[label] = per_request(meter.stop(), total)
    return total / elapsed


def baseline_and_reservations(seller: list[Client], buyers: list[Client], per_client: int = 8) -> dict:
    """The same clients: baselines, then reservations of distinct free tickets, then baselines again."""
    phase = Phase("baseline and reservations")
    tickets = list_tickets(seller, phase, f"Throughput {uuid.uuid4().hex[:6]}", len(buyers) * per_client)
    wait_orderable(tickets)
    failed = []

    def baseline(client: Client, _: int) -> None:
        response = client.call(phase, "POST", f"{api('orders')}/_bench/baseline", kind="baseline")
        if response is None or response.status_code != 201:
            failed.append(("baseline", None if response is None else response.status_code))

    def reserve(client: Client, n: int) -> None:
        response = client.call(phase, "POST", f"{api('orders')}/api/orders", kind="reserve",
                               json={"ticket_id": tickets[n]}, headers=idempotency_key())
        if response is None or response.status_code != 201:
            failed.append(("reserve", None if response is None else response.status_code))

    cpu: dict[str, str] = {}
    before = rate(phase, buyers, per_client, baseline, "baseline (one-row insert)", cpu)
    reservations = rate(phase, buyers, per_client, reserve, "reserving free tickets", cpu)
    after = rate(phase, buyers, per_client, baseline, "baseline again")
    return {"phase": phase, "baseline": (before + after) / 2, "baselines": (before, after),
            "reservations": reservations, "failed": failed, "clients": len(buyers), "cpu": cpu}


# -- the flash sale --------------------------------------------------------------------------


class Sale:
    """What the buyers know of the tickets on sale: which still look free, how many are paid for."""

    WINDOW = 20  # buyers go for the first few free tickets, as people do when a sale opens

    def __init__(self, tickets: list[str]) -> None:
        self.free = list(tickets)
        self.total = len(tickets)
        self.paid = 0
        self.lock = threading.Lock()
        self.last_paid_at = 0.0
        self.failures: list[str] = []

    def pick(self) -> str | None:
        with self.lock:
            return random.choice(self.free[: self.WINDOW]) if self.free else None

    def taken(self, ticket_id: str) -> None:
        with self.lock:
            if ticket_id in self.free:
                self.free.remove(ticket_id)

    def sold(self) -> None:
        with self.lock:
            self.paid += 1
            self.last_paid_at = time.perf_counter()

    def failed(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


def flash_sale(seller: list[Client], buyers: list[Client], tickets_count: int = 1000,
               timeout: float = 600.0) -> dict:
    """Every buyer reserves one of the first free tickets, pays for it at once, and goes again."""
    listing = Phase("flash sale listing")
    tickets = list_tickets(seller, listing, f"Flash sale {uuid.uuid4().hex[:6]}", tickets_count)
    wait_orderable(tickets)
    phase = Phase("flash sale")
    sale = Sale(tickets)
    settle()
    bar = Progress(f"{len(buyers)} buyers: tickets sold", len(tickets))
    deadline = time.monotonic() + timeout

    def pay(client: Client, order_id: str) -> bool:
        key = idempotency_key()  # every retry of this payment is the same request
        until = time.monotonic() + 60
        while time.monotonic() < until:
            response = client.call(phase, "POST", f"{api('payments')}/api/payments", kind="pay",
                                   json={"order_id": order_id, "payment_method": "pm_card_visa"}, headers=key)
            if response is None:
                sale.failed("payment: connection lost")
                return False
            if response.status_code == 201:
                return True
            if response.status_code in (404, 409):  # the order is on its way to payments / the first try runs
                time.sleep(0.02)
                continue
            sale.failed(f"payment answered {response.status_code}")
            return False
        sale.failed("payment: the order never reached the payments service")
        return False

    def buyer(index: int) -> None:
        client = buyers[index]
        while sale.paid + len(sale.failures) < sale.total and time.monotonic() < deadline:
            ticket_id = sale.pick()
            if ticket_id is None:
                time.sleep(0.05)  # all reserved: the others are paying
                continue
            response = client.call(phase, "POST", f"{api('orders')}/api/orders", kind="reserve",
                                   json={"ticket_id": ticket_id}, headers=idempotency_key())
            if response is None:
                continue
            if response.status_code == 201:
                sale.taken(ticket_id)
                if pay(client, response.json()["id"]):
                    sale.sold()
                    bar.add()
            elif response.status_code == 400:  # someone else holds it
                sale.taken(ticket_id)
            elif response.status_code >= 500:
                time.sleep(0.05)

    meter = CpuMeter()
    meter.start()
    started = time.perf_counter()
    parallel(buyer, len(buyers), len(buyers))
    elapsed = time.perf_counter() - started
    settle()
    cpu = per_request(meter.stop(), sale.paid)
    if sale.paid < sale.total:
        print(f"\n  not sold: {sale.total - sale.paid} of {sale.total} tickets ({', '.join(sale.failures[:5])})")
    return {"phase": phase, "listing": listing, "tickets": tickets, "sold": sale.paid, "failures": sale.failures,
            "buyers": len(buyers), "sold_in": (sale.last_paid_at - started) if sale.paid else float("nan"),
            "elapsed": elapsed, "cpu": cpu}


def audit_sale(tickets: list[str], timeout: float = 120.0) -> list[str]:
    """What the databases say: each ticket sold once, to one complete order; every payment's order complete."""
    problems: list[str] = []
    deadline = time.monotonic() + timeout
    with database("orders") as orders, database("tickets") as tickets_db, database("payments") as payments:
        while True:  # orders complete when payment.created reaches them; tickets sell on order.completed
            complete = orders.execute("SELECT count(*) FROM orders_order WHERE ticket_id = ANY(%s::uuid[]) "
                                      "AND status = 'complete'", [tickets]).fetchone()[0]
            sold = tickets_db.execute("SELECT count(*) FROM tickets_ticket WHERE id = ANY(%s::uuid[]) "
                                      "AND sold_at IS NOT NULL", [tickets]).fetchone()[0]
            progress("orders complete, tickets sold", min(complete, sold), len(tickets))
            if (complete >= len(tickets) and sold >= len(tickets)) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        twice = orders.execute(
            "SELECT ticket_id, count(*) FROM orders_order WHERE ticket_id = ANY(%s::uuid[]) "
            "AND status = 'complete' GROUP BY ticket_id HAVING count(*) > 1", [tickets]).fetchall()
        problems += [f"ticket {ticket} sold {count} times" for ticket, count in twice]
        if complete < len(tickets):
            problems.append(f"{len(tickets) - complete} tickets have no complete order")
        if sold < len(tickets):
            problems.append(f"{len(tickets) - sold} tickets are not sold in the tickets service")
        paid = payments.execute("SELECT order_id, count(*) FROM payments_payment WHERE status = 'succeeded' "
                                "GROUP BY order_id").fetchall()
        problems += [f"order {order} paid {count} times" for order, count in paid if count > 1]
        statuses = dict(orders.execute("SELECT id, status FROM orders_order WHERE id = ANY(%s::uuid[])",
                                       [[order for order, _ in paid]]).fetchall())
        incomplete = [order for order, _ in paid if statuses.get(order) != "complete"]
        problems += [f"payment of order {order} whose order is {statuses.get(order, 'unknown')}"
                     for order in incomplete[:10]]
        if len(incomplete) > 10:
            problems.append(f"... {len(incomplete) - 10} more payments of orders that are not complete")
    return problems


# -- races and search ------------------------------------------------------------------------


def buyer_races(seller: list[Client], buyers: list[Client], rounds: int = 20) -> dict:
    """``rounds`` times, every buyer posts for one fresh ticket at the same instant:
    exactly one order each round, and no server error, is right."""
    phase = Phase("races")
    created = 0
    for n in range(rounds):
        ticket_id = list_tickets(seller[:1], phase, f"Race {uuid.uuid4().hex[:6]}", 1)[0]
        wait_orderable([ticket_id])
        barrier = threading.Barrier(len(buyers))

        def attempt(index: int, barrier=barrier, ticket_id=ticket_id) -> int | None:
            barrier.wait()
            response = buyers[index].call(phase, "POST", f"{api('orders')}/api/orders", kind="race",
                                          json={"ticket_id": ticket_id}, headers=idempotency_key())
            return None if response is None else response.status_code

        statuses = parallel(attempt, len(buyers), len(buyers))
        created += statuses.count(201)
        progress(f"{len(buyers)}-buyer races", n + 1, rounds)
    return {"phase": phase, "created": created, "rounds": rounds, "buyers": len(buyers)}


WORDS = (
    "jazz", "rock", "opera", "ballet", "comedy", "derby", "final", "cup", "league", "gala", "symphony",
    "quartet", "choir", "tour", "festival", "night", "matinee", "premiere", "encore", "acoustic", "unplugged",
    "marathon", "tennis", "hockey", "basketball", "cricket", "rugby", "chess", "circus", "magic", "dance",
    "tango", "salsa", "blues", "soul", "funk", "disco", "techno", "house", "reggae", "folk", "punk", "metal",
    "indie", "gospel", "country", "swing", "bebop", "baroque", "requiem", "cantata", "sonata",
)
CITIES = ("Lisbon", "Porto", "Madrid", "Paris", "Lyon", "Berlin", "Munich", "Vienna", "Prague", "Rome",
          "Milan", "Oslo", "Dublin", "Warsaw", "Zurich", "Ghent", "Seville", "Bologna", "Turin", "Krakow")
CATEGORIES = ("concert", "sport", "theatre", "comedy", "festival", "other")


def search_parameters() -> tuple[set[str], dict[str, list[str]]]:
    """The query parameters ``GET /api/tickets`` documents, and the allowed values of those that have a list."""
    schema = requests.get(f"{api('tickets')}/api/tickets/schema", params={"format": "json"}, timeout=30).json()
    operation = schema["paths"]["/api/tickets"]["get"]
    names, choices = set(), {}
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query":
            names.add(parameter["name"])
            values = parameter.get("schema", {}).get("enum") or parameter.get("schema", {}).get("items", {}).get("enum")
            if values:
                choices[parameter["name"]] = [str(value) for value in values]
    return names, choices


def insert_free_tickets(count: int, choices: dict[str, list[str]]) -> str | None:
    """``count`` free tickets straight into the tickets database (the API would take minutes);
    None, or why the table has a column this cannot fill."""
    with database("tickets") as conn:
        columns = conn.execute(
            "SELECT column_name, is_nullable = 'YES', column_default IS NOT NULL, is_generated = 'ALWAYS' "
            "FROM information_schema.columns WHERE table_name = 'tickets_ticket'").fetchall()
        seller = str(uuid.uuid4())
        known = {
            "id": "gen_random_uuid()",
            "title": "(SELECT string_agg(w, ' ') FROM (SELECT (%(words)s::text[])[1 + floor(random() * "
                     "array_length(%(words)s::text[], 1))::int] AS w FROM generate_series(1, 3 + n %% 2)) AS t)",
            "price": "(1 + n %% 200)::numeric(9, 2)",
            "user_id": "%(seller)s::uuid",
            "created_at": "now() - n * interval '1 second'",
            "updated_at": "now()",
            "version": "0",
            "city": "(%(cities)s::text[])[1 + n %% array_length(%(cities)s::text[], 1)]",
            "category": "(%(categories)s::text[])[1 + (n / 7) %% array_length(%(categories)s::text[], 1)]",
            "venue": "'Hall ' || (n %% 50)",
            "description": "'Doors open an hour before. Row ' || (n %% 40) || ', seat ' || (n %% 30) || '.'",
            "starts_at": "now() + (1 + n %% 365) * interval '1 day'",
        }
        chosen, values = [], []
        for name, nullable, has_default, generated in columns:
            if generated:
                continue
            if name in known:
                chosen.append(name)
                values.append(known[name])
            elif not nullable and not has_default:
                return f"tickets_ticket.{name} is required and the benchmark does not know what to put there"
        conn.execute(
            f"INSERT INTO tickets_ticket ({', '.join(chosen)}) "
            f"SELECT {', '.join(values)} FROM generate_series(1, %(count)s) AS n",
            {"words": list(WORDS), "cities": list(CITIES), "seller": seller, "count": count,
             "categories": choices.get("category", list(CATEGORIES))},
        )
        conn.execute("ANALYZE tickets_ticket")
    return None


def search_latency(count: int = 100_000, samples: int = 100) -> dict:
    """``GET /api/tickets`` with words and two filters over ``count`` free tickets, one client."""
    phase = Phase("search")
    names, choices = search_parameters()
    words_param = "q" if "q" in names else "search" if "search" in names else None
    filters = [name for name in ("category", "city") if name in names]
    if words_param is None:
        return {"phase": phase, "skipped": "GET /api/tickets has no search parameter"}
    started = time.perf_counter()
    why_not = insert_free_tickets(count, choices)
    if why_not:
        return {"phase": phase, "skipped": why_not}
    inserted_in = time.perf_counter() - started
    client = Client()
    categories = choices.get("category", list(CATEGORIES))
    for n in range(samples):
        params = {words_param: random.choice(WORDS)}
        if "category" in filters:
            params["category"] = random.choice(categories)
        if "city" in filters:
            params["city"] = random.choice(CITIES)
        client.call(phase, "GET", f"{api('tickets')}/api/tickets", kind="search", params=params)
        if n % 10 == 0 or n == samples - 1:
            progress("searching", n + 1, samples)
    query = "&".join([f"{words_param}=..."] + [f"{name}=..." for name in filters])
    return {"phase": phase, "query": query, "count": count, "inserted_in": inserted_in}


# -- the report ------------------------------------------------------------------------------


def report(*, ratio: dict | None = None, sale: dict | None = None, problems: Iterable[str] | None = None,
           races: dict | None = None, search: dict | None = None) -> list[str]:
    lines = []
    if ratio:
        phase, clients = ratio["phase"], ratio["clients"]
        lines += [
            f"baseline (one-row insert), {clients} clients  {ratio['baseline']:>8,.0f} requests/s "
            f"({ratio['baseline'] / CORES:,.0f} per core; runs {ratio['baselines'][0]:,.0f} and "
            f"{ratio['baselines'][1]:,.0f})",
            f"reservations, {clients} clients           {ratio['reservations']:>8,.0f} requests/s "
            f"({ratio['reservations'] / CORES:,.0f} per core), {p50_p99(phase.latencies['reserve'])}",
            f"reservations / baseline ratio: {ratio['reservations'] / ratio['baseline']:.2f}   (target >= 0.5)",
            f"  CPU per baseline request, {ratio['cpu']['baseline (one-row insert)']}",
            f"  CPU per reservation, {ratio['cpu']['reserving free tickets']}",
            f"  baseline and reservations: {phase.errors_line()}, failed requests: {len(ratio['failed'])}",
        ]
    if sale:
        phase = sale["phase"]
        paid = phase.latencies["pay 201"]
        waits = phase.statuses["pay"].get(404, 0) + phase.statuses["pay"].get(409, 0)
        lines += [
            f"flash sale: {sale['sold']} of {len(sale['tickets'])} tickets sold to {sale['buyers']} buyers "
            f"in {sale['sold_in']:.1f} s ({sale['sold'] / sale['sold_in']:.1f} tickets/s, "
            f"{sale['sold'] / sale['sold_in'] / CORES:.1f} per core)",
            f"  reservations: {p50_p99(phase.latencies['reserve'])} over {len(phase.latencies['reserve'])} "
            f"attempts ({phase.statuses['reserve'].get(201, 0)} reserved, "
            f"{phase.statuses['reserve'].get(400, 0)} already taken)",
            f"  payments: {p50_p99(paid)} over {len(paid)} paid "
            f"({waits} answers of 404/409 while the order travelled to payments or a retry waited)",
            f"  {phase.requests / sale['elapsed']:,.0f} requests/s; {phase.errors_line()}; "
            f"listing 1,000 tickets: {sale['listing'].errors_line()}",
            f"  CPU per ticket sold (its attempts, payment and events), {sale['cpu']}",
            "  audit: " + ("no ticket sold twice, every payment belongs to a complete order" if not problems
                           else "; ".join(problems)),
        ]
    if races:
        phase = races["phase"]
        lines.append(f"{races['buyers']}-buyer race x {races['rounds']}: {races['created']} orders created "
                     f"(must be {races['rounds']}), {phase.errors_line()}")
    if search:
        phase = search["phase"]
        if search.get("skipped"):
            lines.append(f"search: skipped ({search['skipped']})")
        else:
            lines.append(f"search, GET /api/tickets?{search['query']} over {search['count']:,} free tickets: "
                         f"{p50_p99(phase.latencies['search'])}; {phase.errors_line()}")
    return lines
