"""The load's own bookkeeping on scripted answers: what a buyer believes free or taken after
reserving sets, editing an order and retries whose first try went through."""

from __future__ import annotations

import random
import time
from typing import Any

from chaos.load import Load, Market, Shape, _named

ORDER_ID = "o-1"


class Answer:
    """Just what the load reads of a ``requests.Response``."""

    def __init__(self, status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self._body = body
        self.headers = headers or {}
        self.text = str(body)

    def json(self) -> dict[str, Any]:
        return self._body


def refusal(status_code: int, message: str) -> Answer:
    return Answer(status_code, {"errors": [{"message": message}]})


def order(*ticket_ids: str, total: str = "10.00") -> dict[str, Any]:
    return {"id": ORDER_ID, "status": "created", "total": total, "tickets": [{"id": t} for t in ticket_ids]}


class ScriptedClient:
    """Answers calls in turn (None: lost to a dead process) and records what was asked."""

    def __init__(self, *answers: Answer | None) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str, dict[str, Any] | None, dict[str, str] | None]] = []

    def call(self, method: str, service: str, path: str, body: dict[str, Any] | None = None, *,
             within: float, headers: dict[str, str] | None = None) -> Answer | None:
        self.calls.append((method, path, body, headers))
        return self.answers.pop(0)


def load_with(*ticket_ids: str) -> Load:
    load = Load({}, Shape(sellers=0, buyers=0, expiration_seconds=8), seed=1)
    for ticket_id in ticket_ids:
        load.market.add(ticket_id)
    return load


def free(market: Market, *ticket_ids: str) -> set[str]:
    return set(market.pick_free(random.Random(0), 50)) & set(ticket_ids)


def test_a_refused_set_names_the_tickets_somebody_holds():
    message = "Tickets cannot be reserved (already reserved: a, b; not found: c)"
    assert _named(message, "already reserved:") == ["a", "b"]
    assert _named(message, "not found:") == ["c"]
    assert _named("Tickets cannot be reserved (not found: c)", "already reserved:") == []


def test_pick_free_skips_taken_tickets_and_those_already_in_the_order():
    market = Market()
    for ticket_id in "abcd":
        market.add(ticket_id)
    market.taken_all(["a"], until=time.monotonic() + 60)
    assert set(market.pick_free(random.Random(0), 10, besides=["b"])) == {"c", "d"}


def test_a_refused_set_takes_none_of_its_tickets_but_learns_the_held_ones():
    load = load_with("a", "b", "c")
    client = ScriptedClient(refusal(400, "Tickets cannot be reserved (already reserved: b)"))
    assert load._reserve(client, ["a", "b"]) is None
    assert free(load.market, "a", "b", "c") == {"a", "c"}
    assert load.stats.snapshot()["multi-ticket reservations refused"] == 1


def test_a_set_is_reserved_again_with_the_same_idempotency_key_while_the_first_try_runs():
    load = load_with("a", "b")
    client = ScriptedClient(refusal(409, "A request with this Idempotency-Key is still in progress"),
                            Answer(201, order("a", "b"), {"Idempotent-Replayed": "true"}))
    assert load._reserve(client, ["a", "b"]) == order("a", "b")
    (_, _, first_body, first_key), (_, _, second_body, second_key) = client.calls
    assert first_body == second_body == {"ticket_ids": ["a", "b"]}
    assert first_key == second_key and first_key["Idempotency-Key"]
    stats = load.stats.snapshot()
    assert (stats["orders"], stats["multi-ticket orders"], stats["reservations replayed"]) == (1, 1, 1)


def test_a_lost_multi_ticket_reservation_is_counted_as_lost():
    load = load_with("a", "b")
    assert load._reserve(ScriptedClient(None), ["a", "b"]) is None
    assert load.stats.snapshot()["multi-ticket reservations lost"] == 1


def test_a_ticket_taken_out_of_the_order_is_free_again():
    load = load_with("a", "b")
    load.market.taken_all(["a", "b"], until=time.monotonic() + 60)
    client = ScriptedClient(Answer(200, order("b")))
    changed = load._edit(client, order("a", "b"), _rng_choosing(remove=True, pick="a"), until=time.monotonic() + 60)
    assert changed == order("b")
    assert client.calls[0][:2] == ("DELETE", f"/api/orders/{ORDER_ID}/tickets/a")
    assert free(load.market, "a", "b") == {"a"}
    assert load.stats.snapshot()["tickets removed"] == 1


def test_an_add_whose_first_try_went_through_counts_as_added_and_reads_the_order():
    load = load_with("a", "c")
    load.market.taken("a", until=time.monotonic() + 60)
    client = ScriptedClient(refusal(400, "This ticket is already in the order"), Answer(200, order("a", "c")))
    changed = load._edit(client, order("a"), random.Random(0), until=time.monotonic() + 60)
    assert changed == order("a", "c")
    assert [c[:2] for c in client.calls] == [("POST", f"/api/orders/{ORDER_ID}/tickets"),
                                            ("GET", f"/api/orders/{ORDER_ID}")]
    assert free(load.market, "a", "c") == set()
    stats = load.stats.snapshot()
    assert (stats["tickets added"], stats["cart edits found done"], stats["tickets added refused"]) == (1, 1, 0)


def test_a_refused_add_changes_nothing():
    load = load_with("a", "c")
    load.market.taken("a", until=time.monotonic() + 60)
    client = ScriptedClient(refusal(400, "Ticket is already reserved"))
    assert load._edit(client, order("a"), random.Random(0), until=time.monotonic() + 60) == order("a")
    assert free(load.market, "a", "c") == set()  # c: somebody else holds it
    assert load.stats.snapshot()["tickets added refused"] == 1


def test_a_lost_add_whose_order_cannot_be_read_leaves_the_order_unknown():
    load = load_with("a", "c")
    client = ScriptedClient(None, None)
    assert load._edit(client, order("a"), random.Random(0), until=time.monotonic() + 60) is None
    assert "c" not in free(load.market, "c")  # it may be ours now
    assert load.stats.snapshot()["tickets added lost"] == 1


def _rng_choosing(*, remove: bool, pick: str) -> random.Random:
    """A random source whose first draw decides remove-or-add and whose choice is ``pick``."""

    class Scripted(random.Random):
        def random(self) -> float:
            return 0.0 if remove else 0.99

        def choice(self, seq):
            return pick

    return Scripted(0)
