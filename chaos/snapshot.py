"""Reading the stack's state for the auditor: every service's database, and the Stripe double.

Read directly with psycopg rather than through the APIs: the APIs show each user their
own rows, and the auditor needs every row, including the outbox, the inbox and the
dead letters that no API exposes. Table names are Django's (``<app>_<model>``) plus
the shared library's ``events_*`` tables.
"""

from __future__ import annotations

import json
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from chaos.audit import (
    Charge,
    DeadLetter,
    Expiration,
    Order,
    OrderReplica,
    Payment,
    Reservation,
    Snapshot,
    Ticket,
    TicketReplica,
)

# Services whose databases carry the events tables (auth publishes and consumes nothing).
EVENT_DATABASES = ("tickets", "orders", "payments", "expiration")


class Reader:
    """Reads a :class:`Snapshot`; ``dsn`` maps a database name to its connection string."""

    def __init__(self, dsn: Callable[[str], str], stripe_url: str, stripe_key: str = "sk_test_local") -> None:
        self.dsn = dsn
        self.stripe_url = stripe_url.rstrip("/")
        self.stripe_key = stripe_key

    def __call__(self) -> Snapshot:
        tickets = self._rows("tickets", "SELECT id::text, title, price, version, order_id::text AS order_id, "
                                        "sold_at IS NOT NULL AS sold FROM tickets_ticket")
        reservations = self._rows("tickets", "SELECT order_id::text, ticket_id::text, status, version, ticket_ids "
                                             "FROM tickets_reservation")
        replicas = self._rows("orders", "SELECT id::text, title, price, version FROM orders_ticket")
        orders = self._rows("orders", "SELECT id::text, ticket_id::text, status, version, price, expires_at "
                                      "FROM orders_order")
        items: dict[str, list[str]] = defaultdict(list)
        if self._count("orders", "orders_orderitem", "FALSE") is not None:  # orders of several tickets
            for row in self._rows("orders", "SELECT order_id::text, ticket_id::text FROM orders_orderitem "
                                            "ORDER BY added_at, id"):
                items[row["order_id"]].append(row["ticket_id"])
        order_replicas = self._rows("payments", "SELECT id::text, ticket_id::text, status, version, price "
                                                "FROM payments_order")
        payments = self._rows("payments", "SELECT id::text, order_id::text, stripe_id, status, amount "
                                          "FROM payments_payment")
        expirations = self._rows("expiration", "SELECT order_id::text, status FROM expirations_expiration")
        return Snapshot(
            now=self._rows("orders", "SELECT now() AS now")[0]["now"],
            tickets={r["id"]: Ticket(**r) for r in tickets},
            reservations={r["order_id"]: Reservation(**{**r, "ticket_ids": tuple(map(str, r["ticket_ids"] or ()))})
                          for r in reservations},
            ticket_replicas={r["id"]: TicketReplica(**r) for r in replicas},
            orders={r["id"]: Order(**r, ticket_ids=tuple(items.get(r["id"], ()))) for r in orders},
            order_replicas={r["id"]: OrderReplica(**r) for r in order_replicas},
            payments={r["id"]: Payment(**r) for r in payments},
            expirations={r["order_id"]: Expiration(**r) for r in expirations},
            charges=self._charges(),
            outbox_pending={db: self._count(db, "events_outbox", "published_at IS NULL") for db in EVENT_DATABASES},
            parked={db: n for db in EVENT_DATABASES if (n := self._count(db, "events_parked")) is not None},
            dead_letters=[letter for db in EVENT_DATABASES for letter in self._dead_letters(db)],
        )

    def _rows(self, database: str, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn(database), row_factory=dict_row, connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()

    def _count(self, database: str, table: str, where: str = "TRUE") -> int | None:
        """Rows of ``table`` matching ``where``; None when the table does not exist (yet)."""
        with psycopg.connect(self.dsn(database), connect_timeout=5) as conn:
            if conn.execute("SELECT to_regclass(%s)", [table]).fetchone()[0] is None:
                return None
            return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]

    def _dead_letters(self, database: str) -> list[DeadLetter]:
        rows = self._rows(
            database,
            "SELECT d.id, d.topic, d.event_type, d.event_id::text AS event_id, d.error, d.status, "
            "EXISTS (SELECT 1 FROM events_processed p WHERE p.event_id = d.event_id) AS applied "
            "FROM events_dead_letter d ORDER BY d.id",
        )
        return [DeadLetter(service=database, **row) for row in rows]

    def _charges(self) -> dict[str, Charge]:
        """Every PaymentIntent on the double, and whether its charge was refunded (the double takes any limit)."""
        intents = self._stripe_list("payment_intents")
        refunded = {c["payment_intent"]: bool(c.get("refunded")) for c in self._stripe_list("charges")
                    if c.get("payment_intent")}
        return {
            intent["id"]: Charge(
                intent_id=intent["id"],
                order_id=(intent.get("metadata") or {}).get("order_id"),
                status=intent["status"],
                amount=Decimal(intent["amount"]) / 100,
                refunded=refunded.get(intent["id"], False),
            )
            for intent in intents
        }

    def _stripe_list(self, resource: str) -> list[dict[str, Any]]:
        request = urllib.request.Request(f"{self.stripe_url}/v1/{resource}?limit=1000000",
                                         headers={"Authorization": f"Bearer {self.stripe_key}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["data"]
