"""``retrying``: a transaction PostgreSQL aborted to break a real deadlock runs again, once
per outermost transaction (never inside another one, whose owner runs it again)."""

import threading
import uuid

import pytest
from django.db import OperationalError, connection, transaction

from tests.project.demo.models import Widget
from ticketing_shared.testing.helpers import run_concurrently
from ticketing_shared.transactions import is_retryable, retrying

pytestmark = pytest.mark.django_db(transaction=True)


def lock(key: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def crossing(names: list[str], *, nested: bool) -> tuple[list, dict[str, int]]:
    """Two transactions take locks 1 and 2 in opposite orders, both holding their first
    lock before either asks for its second: PostgreSQL must abort one of them (40P01)."""
    both_hold_one = threading.Barrier(2)
    runs = {name: 0 for name in names}

    def work(name: str):
        def once() -> str:
            with transaction.atomic(savepoint=False):
                runs[name] += 1
                first, second = (1, 2) if name == names[0] else (2, 1)
                lock(first)
                if runs[name] == 1:
                    both_hold_one.wait(timeout=10)
                lock(second)
                Widget.objects.create(id=uuid.uuid4(), name=name)
                return name

        if not nested:
            return retrying(once)
        try:
            with transaction.atomic():
                return retrying(once)
        except OperationalError as error:
            return error

    return run_concurrently(work, names), runs


def test_the_transaction_aborted_by_a_deadlock_runs_again_and_both_commit():
    results, runs = crossing(["a", "b"], nested=False)

    assert sorted(results) == ["a", "b"]
    assert sorted(Widget.objects.values_list("name", flat=True)) == ["a", "b"]
    assert sorted(runs.values()) == [1, 2]  # the victim ran once more, the other once


def test_inside_an_outer_transaction_it_runs_once_and_leaves_the_abort_to_the_outer_owner():
    results, runs = crossing(["a", "b"], nested=True)

    aborted = [r for r in results if isinstance(r, OperationalError)]
    assert len(aborted) == 1 and is_retryable(aborted[0])
    assert runs == {"a": 1, "b": 1}
    assert Widget.objects.count() == 1


def test_other_database_errors_are_not_run_again():
    calls = []

    def once():
        calls.append(1)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1/0")

    with pytest.raises(Exception) as raised:
        retrying(once)
    assert not is_retryable(raised.value)
    assert len(calls) == 1
