"""Bringing up the whole stack in order: infrastructure, databases, migrations, processes, readiness.

Shared by ``dev``, the end-to-end tests and ``bench`` so all three run the same thing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from devstack import infra
from devstack.infra import VENV_BIN, Keys
from devstack.probes import ensure_ports_free, http_status, wait_for
from devstack.profiles import Profile
from devstack.services import SERVICES, Service, existing, operator, process_env, processes, service_env, url
from devstack.supervisor import StartupError, Supervisor

READY_TIMEOUT = 60.0
INFRA_PORTS = ("postgres", "redis", "kafka", "stripe")


def start_infra(
    sup: Supervisor, profile: Profile, services: list[Service], *, extra_databases: tuple[str, ...] = ()
) -> None:
    """Check ports, wipe a fresh profile's data, start the infrastructure and create the databases."""
    ours = [name for name in INFRA_PORTS if name not in infra.external()]
    names = (*ours, *(s.name for s in services))
    command = "make dev" if profile.name == "dev" else "make test"
    ensure_ports_free({profile.port_variable(name): profile.port(name) for name in names}, command=command)
    if profile.fresh:
        shutil.rmtree(profile.data_dir, ignore_errors=True)
    started = time.monotonic()
    infra.start_infra(sup, profile)
    infra.create_databases(profile, [*(s.name for s in SERVICES), *extra_databases])
    sup.say(f"infrastructure ready in {time.monotonic() - started:.1f} s")


def start_services(sup: Supervisor, profile: Profile, services: list[Service]) -> None:
    """Migrate every service (in parallel), start all their processes and wait for ``/readyz``."""
    keys = infra.ensure_jwt_keys(profile)
    with ThreadPoolExecutor(max(1, len(services))) as pool:
        list(pool.map(lambda service: _prepare(sup, service, profile, keys), services))
    for service in services:
        env = service_env(service, profile, keys)
        for kind, argv in processes(service, profile).items():
            sup.start(f"{service.name}.{kind}", argv, cwd=service.path,
                      env={**env, **process_env(service, profile, kind)})
    if any(service.name == "payments" for service in services):
        _register_stripe_webhook(profile)
    watched = [child for child in sup.children if not child.infra]
    for service in services:
        ready = f"{url(service, profile)}/readyz"
        wait_for(lambda ready=ready: http_status(ready) == 200, what=f"GET {ready} to answer 200", watch=watched,
                 timeout=READY_TIMEOUT)


def _register_stripe_webhook(profile: Profile) -> None:
    """Have the Stripe double send signed events to payments, as the Stripe dashboard would."""
    payments = next(service for service in SERVICES if service.name == "payments")
    body = json.dumps({
        "url": f"{url(payments, profile)}/api/payments/webhook",
        "secret": "whsec_local",  # STRIPE_WEBHOOK_SECRET of the local run (services.base_env)
        "events": ["payment_intent.succeeded"],
    }).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{profile.port('stripe')}/_config/webhooks/payments",
                                     data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5):
        pass


def _prepare(sup: Supervisor, service: Service, profile: Profile, keys: Keys) -> None:
    if not service.backend:  # the web client has no database
        return
    env = service_env(service, profile, keys)
    _manage(service, ["migrate", "--noinput"], env)
    if _has_command(service, "ensure_operator"):
        _manage(service, ["ensure_operator"], env)
    sup.say(f"{service.name}: database migrated")


def _manage(service: Service, args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run([VENV_BIN / "python", "manage.py", *args], cwd=service.path, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode:
        raise StartupError(f"{service.name}: manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def _has_command(service: Service, command: str) -> bool:
    """Cheaper than ``manage.py help``: Django finds commands by this very file layout."""
    return any(service.path.glob(f"**/management/commands/{command}.py"))


def client_env(profile: Profile) -> dict[str, str]:
    """How end-to-end tests and benchmarks find the running stack (only services that exist)."""
    email, password = operator()
    return {
        "E2E_STACK": "devstack",
        **{f"E2E_{service.name.upper()}_URL": url(service, profile) for service in existing()},
        "E2E_STRIPE_URL": f"http://127.0.0.1:{profile.port('stripe')}",
        "E2E_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{profile.port('kafka')}",
        "E2E_OPERATOR_EMAIL": email,
        "E2E_OPERATOR_PASSWORD": password,
        "E2E_ORDER_EXPIRATION_SECONDS": profile.setting("ORDER_EXPIRATION_SECONDS"),
    }
