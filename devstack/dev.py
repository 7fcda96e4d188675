"""``dev`` and ``bench``: the whole stack in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from devstack import profiles, stack
from devstack.infra import ensure_jwt_keys
from devstack.profiles import ROOT, Profile
from devstack.services import Service, existing, operator, service_env, url
from devstack.supervisor import StartupError, Supervisor, raise_on_signals


def dev() -> int:
    started = time.monotonic()
    profile = profiles.load("dev")
    services = existing()
    sup = Supervisor()
    raise_on_signals()
    try:
        stack.start_infra(sup, profile, services)
        stack.start_services(sup, profile, services)
        print(_banner(profile, services, time.monotonic() - started), flush=True)
        return sup.wait()  # a process that dies meanwhile is restarted, as Kubernetes would
    except StartupError as error:
        sup.say(f"error: {error}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        sup.stop()


def seed(args: list[str]) -> int:
    """``make seed``: the tickets service's ``seed_catalog`` against the running ``make dev`` stack
    (its database and broker; the events reach the orders service like any listing's)."""
    profile = profiles.load("dev")
    service = next((s for s in existing() if s.name == "tickets"), None)
    if service is None:
        print("devstack: the tickets service is not built")
        return 2
    env = service_env(service, profile, ensure_jwt_keys(profile))
    command = [sys.executable, "manage.py", "seed_catalog", *args]
    return subprocess.run(command, cwd=ROOT / service.folder, env=env, stdin=subprocess.DEVNULL).returncode


def bench() -> int:
    """Runs ``bench/run.py`` against a fresh stack on the test profile.

    The script runs inside one service's Django project (``BENCH_SERVICE_DIR``, default
    the first service with an outbox relay, so the latency includes its Celery worker),
    so it gets that service's environment, the stack's URLs and our pid
    (``BENCH_STACK_PID``) to measure the memory of every process under us.
    """
    script = ROOT / "bench" / "run.py"
    relaying = [s.folder for s in existing() if s.publishes_events]
    folder = os.environ.get("BENCH_SERVICE_DIR") or (relaying[0] if relaying else "")
    service = next((s for s in existing() if s.folder == folder), None)
    if service is None:
        print(f"devstack: BENCH_SERVICE_DIR must name a built service that publishes events ({', '.join(relaying)})")
        return 2
    # Orders must outlive the whole run (the test profile's window is 12 s): expirations firing
    # in the middle of the flash sale would be measured as part of it.
    os.environ.setdefault("TEST_ORDER_EXPIRATION_SECONDS", "3600")
    # One bench buyer holds hundreds of unpaid orders at once (the latency run reserves 200 tickets).
    os.environ.setdefault("MAX_OPEN_ORDERS_PER_USER", "100000")
    # The baseline the reservations are measured against: POST /_bench/baseline (ticketing_shared.bench).
    os.environ.setdefault("BENCH_ENDPOINTS", "1")
    # Two gunicorn workers per service: one worker's Python holds one core however many threads it runs.
    os.environ.setdefault("TEST_WEB_WORKERS", "2")
    # Tokens of the users signed up at the start must outlive the run (15 minutes by default).
    os.environ.setdefault("JWT_ACCESS_TOKEN_SECONDS", "14400")
    profile = profiles.load("test")
    services = existing()
    sup = Supervisor(log_dir=profile.log_dir)
    raise_on_signals()
    try:
        stack.start_infra(sup, profile, services)
        stack.start_services(sup, profile, services)
        env = {
            **service_env(service, profile, ensure_jwt_keys(profile)),
            **stack.client_env(profile),
            "BENCH_STACK_PID": str(os.getpid()),
            "BENCH_SERVICE_DIR": folder,
            "BENCH_SERVICES": ",".join(s.name for s in services),
            "BENCH_JWT_PRIVATE_KEY_FILE": str(ensure_jwt_keys(profile).private),  # buyers' tokens
        }
        code = subprocess.run([sys.executable, script], cwd=ROOT, env=env, stdin=subprocess.DEVNULL).returncode
    except StartupError as error:
        sup.say(f"error: {error}\n{sup.tail()}")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        sup.stop()
    lateness = ROOT / "bench" / "expiration_lateness.py"
    if code == 0 and any(s.name == "expiration" for s in services) and "lateness" in _bench_phases():
        print("\nExpiration lateness: 1,000 orders due within the same 10 s, on a stack of its own", flush=True)
        code = subprocess.run([sys.executable, lateness, "--orders", "1000", "--window", "10"], cwd=ROOT,
                              stdin=subprocess.DEVNULL).returncode
    return code


def _bench_phases() -> set[str]:
    sys.path.insert(0, str(ROOT / "bench"))
    from phases import chosen_phases

    return chosen_phases()


def _banner(profile: Profile, services: list[Service], seconds: float) -> str:
    email, password = operator()
    lines = ["", f"  The ticketing stack is up (started in {seconds:.1f} s).", ""]
    web = [f"  {'web client':<16} {url(s, profile)}/" for s in services if not s.backend]
    lines += web or ["  (no web client yet)"]
    lines += [
        f"  {s.name + (' API' if s.name != 'expiration' else ''):<16} {url(s, profile)}/   "
        f"admin {url(s, profile)}/admin/"
        for s in services
        if s.backend
    ]
    lines += [
        f"  {'Stripe double':<16} http://127.0.0.1:{profile.port('stripe')}/   key sk_test_local",
        f"  {'PostgreSQL':<16} postgres://postgres@127.0.0.1:{profile.port('postgres')}/<service>",
        f"  {'Redis':<16} redis://127.0.0.1:{profile.port('redis')}",
        f"  {'Kafka':<16} 127.0.0.1:{profile.port('kafka')}",
        f"  {'operator':<16} {email} / {password}",
        "",
        "  Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)
