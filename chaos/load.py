"""The purchase load of a chaos run: sellers listing and repricing, buyers reserving one
ticket or a set of them, adding a ticket to or taking one out of their unpaid order,
then paying, cancelling or walking away, all over the services' HTTP APIs.

Processes die under it, so every call tolerates refused connections and 5xx answers:
they are counted (a 5xx while a web process is being killed is expected) and the call
is tried again politely until its deadline. A retried ``POST`` may find that the first
attempt went through after all (the ticket is "already reserved", the order "already
paid"); that is counted as what it is, never as a failure of the load. Reservations
carry an ``Idempotency-Key``, so a retry after an unheard 201 gets that same order back
rather than "already reserved"; a cart edit retried after it went through answers "already
in the order" / "not in the order", and the buyer reads the order again to learn its total.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import requests

PASSWORD = "Chaos-Password-2026"
CARD = "pm_card_visa"  # the Stripe double charges it successfully
REQUEST_TIMEOUT = 10.0
BACKOFF_MAX = 2.0
ERROR = "error: "  # prefix of the per-service error counters ("error: orders 503")
MULTI_SHARE = 1 / 3  # of reservations that ask for a set of 2-3 tickets in one order
EDIT_SHARE = 0.4  # of orders that get a ticket added or taken out before the buyer decides
# The orders service's answers: a ticket somebody holds, and a cart edit retried after it went through.
TICKET_ALREADY_IN_ORDER = "This ticket is already in the order"
TICKET_ALREADY_RESERVED = "Ticket is already reserved"
TICKET_NOT_IN_ORDER = "This ticket is not in the order"


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
             within: float, headers: dict[str, str] | None = None) -> requests.Response | None:
        """The first answer below 500, retrying refused connections and 5xx for ``within`` seconds.

        None when the deadline passed (or the run is stopping) without one.
        """
        deadline = time.monotonic() + within
        backoff = 0.2
        while True:
            try:
                response = self.http.request(method, self.urls[service] + path, json=body, headers=headers,
                                             timeout=REQUEST_TIMEOUT)
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


def ticket_ids(order: dict[str, Any]) -> list[str]:
    """Every ticket of an order as the orders API answers it."""
    return [str(ticket["id"]) for ticket in order["tickets"]]


def _named(message: str, label: str) -> list[str]:
    """The ids a refused set names after ``label`` ("already reserved: <id>, <id>; not found: ...")."""
    if label not in message:
        return []
    names = message.split(label, 1)[1].split(";", 1)[0].rstrip(")")
    return [name.strip() for name in names.split(",") if name.strip()]


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

    def taken_all(self, ticket_ids: Collection[str], until: float = float("inf")) -> None:
        """Every ticket of an order: held until its window ends, sold (the default), or free again (0)."""
        with self._lock:
            for ticket_id in ticket_ids:
                self._taken_until[ticket_id] = until

    def pick(self, rng: random.Random) -> str | None:
        with self._lock:
            if not self._ids:
                return None
            now = time.monotonic()
            free = [t for t in self._ids[-50:] if self._taken_until.get(t, 0.0) < now]
            return rng.choice(free if free and rng.random() < 0.85 else self._ids)

    def pick_free(self, rng: random.Random, n: int, *, besides: Collection[str] = ()) -> list[str]:
        """Up to ``n`` distinct recent tickets believed free (not in ``besides``), for a cart."""
        with self._lock:
            now = time.monotonic()
            free = [t for t in self._ids[-50:] if self._taken_until.get(t, 0.0) < now and t not in besides]
            return rng.sample(free, min(n, len(free)))


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
        """A third of the time a set of 2-3 tickets in one order, now and then edited before the end."""
        wanted = self.market.pick_free(rng, rng.randint(2, 3)) if rng.random() < MULTI_SHARE else []
        if len(wanted) < 2:
            ticket_id = self.market.pick(rng)
            if ticket_id is None:
                return
            wanted = [ticket_id]
        order = self._reserve(client, wanted)
        if order is None:
            return
        reserved_at = time.monotonic()
        window = self.shape.expiration_seconds
        self.market.taken_all(ticket_ids(order), until=reserved_at + window)
        if rng.random() < EDIT_SHARE:
            order = self._edit(client, order, rng, until=reserved_at + window)
            if order is None:  # the edit was lost and so was reading the order again: walk away
                self.stats.add("abandoned")
                return
        held = ticket_ids(order)
        total = order["total"]
        roll = rng.random()
        if roll < 0.5:
            self._stop.wait(rng.uniform(0, 1.5))
            paid = self._pay(client, order["id"], total, reserved_at + window)
        elif roll < 0.6:  # at the last moment: races the expiration, sometimes refunded
            time.sleep(max(0.0, window - rng.uniform(0.2, 1.5) - (time.monotonic() - reserved_at)))
            self.stats.add("last-moment payments")
            paid = self._pay(client, order["id"], total, reserved_at + window)
        elif roll < 0.75:
            self._stop.wait(rng.uniform(0, 2))
            paid = False
            if self._cancel(client, order["id"]):
                self.market.taken_all(held, until=0.0)
        else:
            paid = False
            self.stats.add("abandoned")  # left to expire
        if paid:
            self.market.taken_all(held)

    def _reserve(self, client: Client, wanted: list[str]) -> dict[str, Any] | None:
        """404 until the orders service has heard of the tickets (its consumer may be down): wait a little.

        One ``Idempotency-Key`` for every try, so a retry after an unheard 201 answers that order.
        """
        several = len(wanted) > 1
        body = {"ticket_ids": wanted} if several else {"ticket_id": wanted[0]}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        deadline = time.monotonic() + 5
        while True:
            response = client.call("POST", "orders", "/api/orders", body, within=15, headers=key)
            if response is None:
                self.stats.add("multi-ticket reservations lost" if several else "reservations lost")
                return None
            if response.status_code == 201:
                self.stats.add("orders")
                if response.headers.get("Idempotent-Replayed") == "true":
                    self.stats.add("reservations replayed")  # a retry: the first try's answer was lost
                if several:
                    self.stats.add("multi-ticket orders")
                return response.json()
            message = error_message(response)
            # A set names what it could not have: retry while some were only not replicated yet.
            unknown = "not found:" in message and "already reserved:" not in message
            if (response.status_code not in (404, 409) and not unknown) or time.monotonic() > deadline:
                refused = "multi-ticket reservations refused" if several else "reservations refused"
                self.stats.add(refused if response.status_code == 400 else f"{refused} ({response.status_code})")
                # Someone else holds these (nothing of the set was reserved): not free for a while.
                held = _named(message, "already reserved:") or (wanted if TICKET_ALREADY_RESERVED in message else [])
                self.market.taken_all(held, until=time.monotonic() + self.shape.expiration_seconds)
                return None
            time.sleep(0.3)  # 404: not replicated yet; 409: our own first try still runs

    def _edit(self, client: Client, order: dict[str, Any], rng: random.Random, *,
              until: float) -> dict[str, Any] | None:
        """Take a ticket out of an order of several, or add one believed free; the order as it is
        now (None: the edit was lost and the order could not be read again)."""
        held = ticket_ids(order)
        path = f"/api/orders/{order['id']}/tickets"
        if len(held) > 1 and rng.random() < 0.6:
            ticket_id, action = rng.choice(held), "removed"
            response = client.call("DELETE", "orders", f"{path}/{ticket_id}", within=10)
            done_before = TICKET_NOT_IN_ORDER
        else:
            picked = self.market.pick_free(rng, 1, besides=held)
            if not picked:
                return order
            ticket_id, action = picked[0], "added"
            response = client.call("POST", "orders", path, {"ticket_id": ticket_id}, within=10)
            done_before = TICKET_ALREADY_IN_ORDER
        if response is not None and response.status_code == 200:
            self.stats.add(f"tickets {action}")
            changed: dict[str, Any] | None = response.json()
        elif response is not None and done_before not in error_message(response):
            self.stats.add(f"tickets {action} refused")
            if TICKET_ALREADY_RESERVED in error_message(response):
                self.market.taken(ticket_id, until=time.monotonic() + self.shape.expiration_seconds)
            return order  # nothing changed
        else:  # unheard, or a retry finding that the first try went through: read what the order holds now
            if response is None:
                self.stats.add(f"tickets {action} lost")
            else:
                self.stats.add(f"tickets {action}")
                self.stats.add("cart edits found done")
            changed = self._read(client, order["id"])
            if changed is None:
                if action == "added":  # it may hold the ticket now: not free until the window ends
                    self.market.taken(ticket_id, until=until)
                return None
        now_held = ticket_ids(changed)
        self.market.taken_all([t for t in now_held if t not in held], until=until)
        self.market.taken_all([t for t in held if t not in now_held], until=0.0)
        return changed

    def _read(self, client: Client, order_id: str) -> dict[str, Any] | None:
        response = client.call("GET", "orders", f"/api/orders/{order_id}", within=10)
        return response.json() if response is not None and response.status_code == 200 else None

    def _pay(self, client: Client, order_id: str, total: str, deadline: float) -> bool:
        """404 until payments has the order; "in progress" after a retried request, or another
        total while the news of a cart edit travels to payments (409): ask again."""
        body = {"order_id": order_id, "payment_method": CARD, "expected_total": total}
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
            again = response.status_code in (404, 409) or "in progress" in message
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
