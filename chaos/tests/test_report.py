"""The chaos report: what a failed run says about its consumers."""

from __future__ import annotations

from collections import Counter

from chaos.audit import Verdict, Violation
from chaos.run import SHORT, Outcome, lagging_partitions, report
from chaos.tests.test_audit import consistent

METRICS = """# HELP consumer_lag_messages Messages not yet consumed.
# TYPE consumer_lag_messages gauge
consumer_lag_messages{partition="0",topic="order.created"} 0.0
consumer_lag_messages{partition="2",topic="order.created"} 3.0
consumer_lag_messages{partition="1",topic="order.cancelled"} 12.0
events_consumed_total{type="order.created"} 40.0
"""


def test_only_partitions_behind_are_named():
    assert lagging_partitions(METRICS) == ["order.created [2]: 3 behind", "order.cancelled [1]: 12 behind"]
    assert lagging_partitions("consumer_lag_messages{partition=\"0\",topic=\"t\"} 0.0\n") == []


def outcome(violations: list[Violation], lag: list[str]) -> Outcome:
    verdict = Verdict(consistent(), violations, waited=90.0, settled=False)
    return Outcome(SHORT, 1, [], Counter(), verdict, [], {"total": 1.0}, lag)


def test_a_failed_run_says_which_consumer_groups_were_behind():
    violation = Violation("order-not-expired", "order 1 is still created 92 s past its deadline")
    text = report(outcome([violation], ["expiration: order.created [2]: 3 behind"]))

    assert "Consumer groups behind the log at the end" in text
    assert "  expiration: order.created [2]: 3 behind" in text


def test_a_failed_run_with_no_consumer_behind_says_none_and_a_clean_one_says_nothing():
    violation = Violation("ticket-holder", "ticket 1: tickets says held by order 2, which has expired")
    assert "Consumer groups behind the log at the end (committed offsets, from each /metrics):\n  none" in report(
        outcome([violation], []))
    assert "Consumer groups behind" not in report(outcome([], []))
