"""The purchase load of a chaos run: sellers listing and repricing, buyers reserving,
paying, cancelling or walking away, all over the services' HTTP APIs.

Processes die under it, so every call tolerates refused connections and 5xx answers:
they are counted (a 5xx while a web process is being killed is expected) and the call
is tried again politely until its deadline. A retried ``POST`` may find that the first
attempt went through after all (the ticket is "already reserved", the order "already
paid"); that is counted as what it is, never as a failure of the load.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

PASSWORD = "Chaos-Password-2026"
CARD = "pm_card_visa"  # the Stripe double charges it successfully
REQUEST_TIMEOUT = 10.0
BACKOFF_MAX = 2.0
ERROR = "error: "  # prefix of the per-service error counters ("error: orders 503")


@dataclass(frozen=True)
class Shape:
    """How many people, how fast; the window is the services' ``ORDER_EXPIRATION_SECONDS``."""

    sellers: int
    buyers: int
    expiration_seconds: float
    seller_pause: tuple[float, float] = (0.5, 1.5)
    buyer_pause: tuple[float, float] = (0.2, 1.0)


class Stats:
    """Thread-safe counters of what the load did and what went wrong on the way."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)


class Client:
    """One signed-up user's session, whose calls ride out processes being killed."""

    def __init__(self, urls: dict[str, str], stats: Stats, stop: threading.Event) -> None:
        self.urls = urls
        self.stats = stats
        self.stop = stop
        self.http = requests.Session()
        self.http.headers["Accept"] = "application/json"
        self.tickets: list[str] = []  # a seller's own listings

    def sign_up(self) -> bool:
        """A fresh email each attempt: a sign-up that went through unseen leaves its email taken."""
        while not self.stop.is_set():
            email = f"chaos-{uuid.uuid4().hex[:12]}@example.com"
            response = self.call("POST", "auth", "/api/users/signup", {"email": email, "password": PASSWORD},
                                 within=30)
            if response is not None and response.status_code == 201:
                self.http.headers["Authorization"] = f"Bearer {response.json()['access']}"
                return True
        return False

    def call(self, method: str, service: str, path: str, body: dict[str, Any] | None = None, *,
             within: float) -> requests.Response | None:
        """The first answer below 500, retrying refused connections and 5xx for ``within`` seconds.

        None when the deadline passed (or the run is stopping) without one.
        """
        deadline = time.monotonic() + within
        backoff = 0.2
        while True:
            try:
                response = self.http.request(method, self.urls[service] + path, json=body, timeout=REQUEST_TIMEOUT)
                if response.status_code < 500:
                    return response
                self.stats.add(f"{ERROR}{service} {response.status_code}")
                self.stats.add("server errors")
            except requests.RequestException as error:
                self.stats.add(f"{ERROR}{service} {type(error).__name__}")
                self.stats.add("connection errors")
            if time.monotonic() + backoff > deadline:
                return None
            time.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)


def error_message(response: requests.Response) -> str:
    try:
        return response.json()["errors"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return response.text[:200]


class Market:
    """Tickets listed so far, and which of them the load believes taken (reserved or sold).

    Buyers mostly go for a ticket they believe free, and now and then for any ticket,
    so that reservations also race for held ones.
    """

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._taken_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, ticket_id: str) -> None:
        with self._lock:
            self._ids.append(ticket_id)

    def taken(self, ticket_id: str, until: float = float("inf")) -> None:
        with self._lock:
            self._taken_until[ticket_id] = until

    def pick(self, rng: random.Random) -> str | None:
        with self._lock:
            if not self._ids:
                return None
            now = time.monotonic()
            free = [t for t in self._ids[-50:] if self._taken_until.get(t, 0.0) < now]
            return rng.choice(free if free and rng.random() < 0.85 else self._ids)


class Load:
    """Seller and buyer threads, from :meth:`start` until :meth:`stop`; each finishes its round."""

    def __init__(self, urls: dict[str, str], shape: Shape, *, seed: int) -> None:
        self.urls = urls
        self.shape = shape
        self.stats = Stats()
        self.market = Market()
        self._seed = seed
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        people: list[tuple[str, Callable[[Client, random.Random], None]]] = [
            *(("seller", self._sell) for _ in range(self.shape.sellers)),
            *(("buyer", self._buy) for _ in range(self.shape.buyers)),
        ]
        for n, (role, act) in enumerate(people):
            rng = random.Random(self._seed * 1000 + n)
            thread = threading.Thread(target=self._live, args=(act, rng), name=f"chaos-{role}-{n}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Let everyone finish the round they are in (at most a reservation window and a payment)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))

    def _live(self, act: Callable[[Client, random.Random], None], rng: random.Random) -> None:
        client = Client(self.urls, self.stats, self._stop)
        if not client.sign_up():
            return
        self.stats.add("users")
        pause = self.shape.seller_pause if act == self._sell else self.shape.buyer_pause
        while not self._stop.is_set():
            act(client, rng)
            self._stop.wait(rng.uniform(*pause))

    # -- sellers -------------------------------------------------------------------

    def _sell(self, client: Client, rng: random.Random) -> None:
        if client.tickets and rng.random() < 0.2:
            self._reprice(client, rng.choice(client.tickets), rng)
            return
        body = {"title": f"Chaos gig {uuid.uuid4().hex[:8]}", "price": f"{rng.randint(500, 8000) / 100:.2f}"}
        response = client.call("POST", "tickets", "/api/tickets", body, within=20)
        if response is None:
            self.stats.add("listings lost")
        elif response.status_code == 201:
            ticket_id = response.json()["id"]
            client.tickets.append(ticket_id)
            self.market.add(ticket_id)
            self.stats.add("tickets listed")
        else:
            self.stats.add(f"listing refused ({response.status_code})")

    def _reprice(self, client: Client, ticket_id: str, rng: random.Random) -> None:
        """A new price on a ticket of ours that nobody holds (a held one refuses it: counted)."""
        response = client.call("GET", "tickets", f"/api/tickets/{ticket_id}", within=10)
        if response is None or response.status_code != 200 or response.json()["order_id"] is not None:
            return
        body = {"title": response.json()["title"], "price": f"{rng.randint(500, 8000) / 100:.2f}"}
        response = client.call("PUT", "tickets", f"/api/tickets/{ticket_id}", body, within=10)
        if response is not None and response.status_code == 200:
            self.stats.add("price changes")
        elif response is not None:
            self.stats.add("price changes refused")  # reserved between our read and our write

    # -- buyers --------------------------------------------------------------------

    def _buy(self, client: Client, rng: random.Random) -> None:
        ticket_id = self.market.pick(rng)
        if ticket_id is None:
            return
        order = self._reserve(client, ticket_id)
        if order is None:
            return
        reserved_at = time.monotonic()
        window = self.shape.expiration_seconds
        self.market.taken(ticket_id, until=reserved_at + window)
        roll = rng.random()
        if roll < 0.5:
            self._stop.wait(rng.uniform(0, 1.5))
            paid = self._pay(client, order["id"], reserved_at + window)
        elif roll < 0.6:  # at the last moment: races the expiration, sometimes refunded
            time.sleep(max(0.0, window - rng.uniform(0.2, 1.5) - (time.monotonic() - reserved_at)))
            self.stats.add("last-moment payments")
            paid = self._pay(client, order["id"], reserved_at + window)
        elif roll < 0.75:
            self._stop.wait(rng.uniform(0, 2))
            paid = False
            if self._cancel(client, order["id"]):
                self.market.taken(ticket_id, until=0.0)
        else:
            paid = False
            self.stats.add("abandoned")  # left to expire
        if paid:
            self.market.taken(ticket_id)

    def _reserve(self, client: Client, ticket_id: str) -> dict[str, Any] | None:
        """404 until the orders service has heard of the ticket (its consumer may be down): wait a little."""
        deadline = time.monotonic() + 5
        while True:
            response = client.call("POST", "orders", "/api/orders", {"ticket_id": ticket_id}, within=15)
            if response is None:
                self.stats.add("reservations lost")
                return None
            if response.status_code == 201:
                self.stats.add("orders")
                return response.json()
            if response.status_code != 404 or time.monotonic() > deadline:
                self.stats.add("reservations refused" if response.status_code == 400 else
                               f"reservations refused ({response.status_code})")
                return None
            time.sleep(0.3)

    def _pay(self, client: Client, order_id: str, deadline: float) -> bool:
        """404 until payments has the order; "in progress" after a retried request: ask again."""
        body = {"order_id": order_id, "payment_method": CARD}
        while True:
            within = max(1.0, deadline - time.monotonic())
            response = client.call("POST", "payments", "/api/payments", body, within=within)
            if response is None:
                self.stats.add("payments lost")
                return False
            message = error_message(response).lower() if response.status_code != 201 else ""
            if response.status_code == 201 or "already paid" in message:
                self.stats.add("payments")
                return True
            again = response.status_code == 404 or "in progress" in message
            if not again or time.monotonic() > deadline:
                self.stats.add("payments refused")
                return False
            time.sleep(0.3)

    def _cancel(self, client: Client, order_id: str) -> bool:
        response = client.call("DELETE", "orders", f"/api/orders/{order_id}", within=15)
        if response is None:
            self.stats.add("cancels lost")
        elif response.status_code == 204:
            self.stats.add("cancels")
            return True
        else:
            self.stats.add("cancels refused")
        return False
