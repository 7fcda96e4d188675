"""``test``: every pytest suite against real infrastructure, then the end-to-end suite.

Unit suites share one fresh test-profile infrastructure; pytest-django creates its own
``test_<db>`` databases. Only the end-to-end suite needs the services running. Their
output goes to ``.data/test/logs/`` so the console shows pytest alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devstack import profiles, stack, tools
from devstack.profiles import ROOT, Profile, chaos_report_file
from devstack.services import SERVICES, Service, base_env, existing
from devstack.supervisor import StartupError, Supervisor, raise_on_signals

SHARED_REDIS_DB = 6
E2E = "e2e"
HELM = "helm"  # its tests find the pinned helm binary (devstack.tools) first on PATH
CHAOS = "chaos"  # last: it stops the shared stack and starts one of its own on the same ports
# A developer's shell may hold real keys: unit tests must generate their own.
_UNIT_ENV_DROPPED = ("JWT_PRIVATE_KEY_FILE", "JWT_PUBLIC_KEY_FILE", "JWT_PRIVATE_KEY", "JWT_PUBLIC_KEY", "JWT_JWKS_URL")


@dataclass(frozen=True)
class Suite:
    name: str
    folder: Path
    database: str
    redis_db: int
    needs_infra: bool = True  # the chart's checks need no database or broker

    def has_tests(self) -> bool:
        return any(self.folder.rglob("test_*.py")) or any(self.folder.rglob("*_test.py"))


@dataclass
class Result:
    suite: str
    outcome: str
    seconds: float = 0.0
    detail: str = ""  # printed after the table, where a CI log's tail still shows it

    @property
    def failed(self) -> bool:
        return not self.outcome.startswith(("passed", "skipped"))


def all_suites() -> list[Suite]:
    return [
        Suite("shared", ROOT / "libs" / "ticketing_shared", database="shared", redis_db=SHARED_REDIS_DB),
        *(Suite(s.name, s.path, database=s.name, redis_db=s.redis_db) for s in SERVICES),
        Suite(E2E, ROOT / E2E, database="", redis_db=0),
        Suite(HELM, ROOT / "helm", database="", redis_db=0, needs_infra=False),
        Suite("devstack", ROOT / "devstack", database="", redis_db=0, needs_infra=False),
        Suite(CHAOS, ROOT / CHAOS, database="", redis_db=0, needs_infra=False),
    ]


def test(selected: list[str]) -> int:
    suites = all_suites()
    unknown = set(selected) - {suite.name for suite in suites}
    if unknown:
        names = ", ".join(suite.name for suite in suites)
        print(f"devstack: unknown suite(s) {', '.join(sorted(unknown))}; choose from {names}")
        return 2
    chosen = [suite for suite in suites if not selected or suite.name in selected]
    runnable = [suite for suite in chosen if suite.has_tests()]
    services = existing() if any(suite.name == E2E for suite in runnable) else []
    profile = profiles.load("test")
    sup = Supervisor(log_dir=profile.log_dir)
    results: list[Result] = []
    raise_on_signals()
    try:
        if any(suite.needs_infra for suite in runnable):
            stack.start_infra(sup, profile, services, extra_databases=("shared",))
        _run_all(sup, profile, chosen, services, results)
    except StartupError as error:
        sup.say(f"error: {error}\n{sup.tail()}")
        results.append(Result("stack", "error: could not start"))
    except KeyboardInterrupt:
        sup.say("interrupted")
        return 130
    finally:
        sup.stop()
    _print_table(results)
    return 1 if any(result.failed for result in results) else 0


def _run_all(
    sup: Supervisor, profile: Profile, suites: list[Suite], services: list[Service], results: list[Result]
) -> None:
    """Appends to ``results`` as it goes, so a stack failure in the end-to-end stage keeps the rest."""
    for suite in suites:
        if not suite.has_tests():
            print(f"devstack: {suite.name}: no test files in {suite.folder.relative_to(ROOT)} yet, skipped")
            results.append(Result(suite.name, "skipped (no tests yet)"))
        elif suite.name == E2E:
            stack.start_services(sup, profile, services)
            env = {**os.environ, **stack.client_env(profile), "E2E_LOG_DIR": str(profile.log_dir)}
            result = _pytest(suite, [E2E], cwd=ROOT, env=env)
            if crashed := sup.crashed():  # a crash is a failure even when no test noticed it (or its restart hid it)
                result.outcome = "failed (" + ", ".join(crashed) + " exited)"
            results.append(result)
        elif suite.name == CHAOS:
            sup.stop()
            results.append(_chaos(suite))
        elif suite.name == HELM:
            try:
                helm = tools.ensure_helm()
            except tools.ToolError as error:
                print(f"devstack: {suite.name}: {error}", flush=True)
                results.append(Result(suite.name, "error: no helm binary"))
                continue
            env = {**os.environ, "PATH": os.pathsep.join([str(helm.parent), os.environ.get("PATH", "")])}
            results.append(_pytest(suite, [], cwd=suite.folder, env=env))
        else:
            env = _unit_env(suite, profile) if suite.needs_infra else dict(os.environ)
            results.append(_pytest(suite, [], cwd=suite.folder, env=env))
    # The chaos run has its own stack (and logs, named in its report).
    tail = sup.tail() if any(result.failed and result.suite != CHAOS for result in results) else ""
    if tail:
        print("\nLast lines of the stack's logs:\n" + tail, flush=True)


def _chaos(suite: Suite) -> Result:
    """The auditor's unit tests, then the short chaos run (``make chaos`` is the full one)."""
    result = _pytest(suite, [f"{CHAOS}/tests"], cwd=ROOT, env=dict(os.environ))
    if result.failed:
        return result
    print(f"\n===== {suite.name}: python -m devstack chaos --short", flush=True)
    started = time.monotonic()
    argv = [sys.executable, "-m", "devstack", CHAOS, "--short"]
    report = chaos_report_file()
    report.unlink(missing_ok=True)
    code = subprocess.run(argv, cwd=ROOT, stdin=subprocess.DEVNULL).returncode
    outcome = "passed" if code == 0 else f"failed (exit {code})"
    detail = ""
    if code != 0:
        detail = report.read_text() if report.exists() else f"(no report: see {report.parent / 'logs'})\n"
    return Result(suite.name, outcome, result.seconds + time.monotonic() - started, detail)


def _unit_env(suite: Suite, profile: Profile) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _UNIT_ENV_DROPPED}
    return {**env, **base_env(profile, database=suite.database, redis_db=suite.redis_db)}


def _pytest(suite: Suite, args: list[str], *, cwd: Path, env: dict[str, str]) -> Result:
    """Runs in our process group, so a Ctrl-C reaches pytest and it reports what it had."""
    print(f"\n===== {suite.name}: {' '.join(['pytest', *args])} (in {cwd.relative_to(ROOT)})", flush=True)
    started = time.monotonic()
    argv = [sys.executable, "-m", "pytest", *args]
    code = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL).returncode
    outcome = "passed" if code == 0 else "no tests collected" if code == 5 else f"failed (exit {code})"
    return Result(suite.name, outcome, time.monotonic() - started)


def _print_table(results: list[Result]) -> None:
    print("\nsuite        seconds  result")
    for result in results:
        print(f"{result.suite:<12} {result.seconds:7.1f}  {result.outcome}")
    for result in results:
        if result.failed and result.detail:
            print(f"\n===== {result.suite}, again:\n{result.detail}", end="")
    print(flush=True)
