"""Which phases ``make bench`` runs: ``BENCH_PHASES`` (comma-separated), all by default."""

from __future__ import annotations

import os

PHASES = ("plumbing", "ratio", "sale", "races", "search", "lateness")


def chosen_phases(value: str | None = None) -> set[str]:
    """``BENCH_PHASES`` (or ``value``), checked: a typo must not quietly measure nothing."""
    given = {name.strip() for name in (os.environ.get("BENCH_PHASES", "") if value is None else value).split(",")
             if name.strip()}
    unknown = given - set(PHASES)
    if unknown:
        raise SystemExit(f"BENCH_PHASES: unknown {', '.join(sorted(unknown))} (choose from {', '.join(PHASES)})")
    return given or set(PHASES)
