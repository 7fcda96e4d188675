"""The summary ``make test`` ends with: what a CI log's last lines must still show."""

from devstack.suites import CHAOS, Result, _print_table


def test_a_failed_chaos_runs_report_is_printed_again_after_the_table(capsys):
    report = "Violations: 2 (target 0) (2 replica lags)\n  replica lags: orders ticket 1 at version 3, tickets at 4\n"
    results = [Result("shared", "passed", 140.0), Result(CHAOS, "failed (exit 1)", 171.4, detail=report),
               Result("helm", "passed", 40.0, detail="not printed: it passed")]

    _print_table(results)

    out = capsys.readouterr().out
    table, _, after = out.partition("===== chaos, again:")
    assert "chaos          171.4  failed (exit 1)" in table
    assert "replica lags: orders ticket 1" not in table
    assert after.strip() == report.strip()
    assert "not printed" not in out


def test_a_green_run_prints_the_table_alone(capsys):
    _print_table([Result("shared", "passed", 1.0), Result(CHAOS, "passed", 2.0)])

    assert "again" not in capsys.readouterr().out
