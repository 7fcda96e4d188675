"""``python -m devstack chaos [--short]``: faults under a purchase load, then the audit.

Starts a fresh stack on the test profile's ports (data and logs in ``.data/chaos/``,
``CHAOS_DATA_DIR`` moves them), runs the load of :mod:`chaos.load` while
:mod:`chaos.faults` kills processes and restarts the broker, stops the load, waits
for the services to settle and audits their databases (:mod:`chaos.audit`). Prints
the faults per kind, the load's figures and every violation (kept in ``report.txt``
there too); exits 1 on any violation, on a fault kind short of its target, or on a
process that did not come back.

Settings the run changes, and why:
- a reservation window of 8 s (``TEST_ORDER_EXPIRATION_SECONDS``), so that
  reservations expire, and race payments, while processes die;
- a payment attempt lease of 30 s and a reconciliation sweep every 5 s
  (``PAYMENT_ATTEMPT_LEASE_SECONDS``, ``PAYMENTS_RECONCILE_INTERVAL_SECONDS``): a
  payments web process killed mid-charge leaves an attempt only the sweep settles,
  after its lease; the defaults (90 s, 30 s) would make the audit wait minutes;
- a consumer whose group membership stays unsettled 30 s with the broker up gives up and
  is restarted (``CONSUMER_REJOIN_TIMEOUT_SECONDS``; 60 s by default);
- restarts after 0.5 s, doubling to at most 2 s (the supervisor's default backs off to
  30 s like Kubernetes, which would spend the run waiting rather than recovering).
After each broker restart the runbook queues the lost events with ``republish_events
--since <watermark> --no-relay`` (see :mod:`chaos.runbook`).
``CHAOS_SEED`` replays the same choices of targets and moments (timing still varies).
"""

from __future__ import annotations

import os
import random
import statistics
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial

from chaos import runbook
from chaos.audit import Snapshot, Verdict, Violation, settle
from chaos.faults import KINDS, Fault, Injector
from chaos.load import ERROR, Load, Shape
from chaos.snapshot import Reader
from devstack import infra, profiles, stack
from devstack.profiles import Profile, chaos_report_file
from devstack.services import Service, existing, url
from devstack.supervisor import Child, RestartPolicy, StartupError, Supervisor, raise_on_signals

REQUIRED = ("auth", "tickets", "orders", "payments", "expiration")
QUICK_RESTARTS = RestartPolicy(first_delay=0.5, max_delay=2.0)
STATUS_EVERY = 15.0
WARM_UP = 5.0  # seconds of load before the first fault: some tickets to buy


@dataclass(frozen=True)
class Plan:
    name: str
    faults_per_kind: int
    window: float  # seconds over which each kind's faults are spread
    shape: Shape
    settle_timeout: float


FULL = Plan("full", faults_per_kind=20, window=240.0, shape=Shape(sellers=2, buyers=6, expiration_seconds=8),
            settle_timeout=180.0)
SHORT = Plan("short", faults_per_kind=3, window=36.0, shape=Shape(sellers=2, buyers=4, expiration_seconds=8),
             settle_timeout=90.0)


@dataclass
class Outcome:
    plan: Plan
    seed: int
    faults: list[Fault]
    figures: Counter[str]
    verdict: Verdict
    crashed: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    lag: list[str] = field(default_factory=list)  # read only when the audit did not agree

    @property
    def violations(self) -> list[Violation]:
        """The auditor's, plus faults that fell short of the plan or never recovered."""
        found = list(self.verdict.violations)
        for kind in KINDS:
            done = [f for f in self.faults if f.kind == kind]
            if len(done) < self.plan.faults_per_kind:
                found.append(Violation("faults", f"only {len(done)} {kind} faults of {self.plan.faults_per_kind}"))
            found += [Violation("recovery", f"{f.target} was not back {f.at:.0f} s into the run" + (
                f" ({f.note})" if f.note else "")) for f in done if f.recovery is None]
            found += [Violation("recovery", f"{f.target} at {f.at:.0f} s: {f.note}") for f in done
                      if f.recovery is not None and "FAILED" in f.note]
        return found


def chaos(*, short: bool) -> int:
    plan = SHORT if short else FULL
    _configure(plan)
    profile = profiles.load("test")
    services = existing()
    missing = [name for name in REQUIRED if name not in {s.name for s in services}]
    if missing:
        print(f"devstack: the chaos suite needs the {', '.join(missing)} service(s) (DEVSTACK_SERVICES?)")
        return 2
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1_000_000))
    sup = Supervisor(log_dir=profile.log_dir, policy=QUICK_RESTARTS)
    raise_on_signals()
    began = time.monotonic()
    try:
        stack.start_infra(sup, profile, services)
        stack.start_services(sup, profile, services)
        started = time.monotonic() - began
        outcome = _run(sup, profile, services, plan, seed)
        outcome.seconds["stack start"] = started
    except StartupError as error:
        sup.say(f"error: {error}\n{sup.tail()}")
        _keep_report(f"The chaos stack did not start: {error}\nLogs: {profile.log_dir}\n")
        return 1
    except KeyboardInterrupt:
        sup.say("interrupted")
        return 130
    finally:
        sup.stop()
    outcome.seconds["total"] = time.monotonic() - began
    text = report(outcome) + (f"Logs: {profile.log_dir}\n" if outcome.violations else "")
    print(text, flush=True)
    _keep_report(text)
    return 1 if outcome.violations else 0


def _keep_report(text: str) -> None:
    """For ``make test``, which prints a failed run's report again after its table."""
    path = chaos_report_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _configure(plan: Plan) -> None:
    """The run's own data folder and the settings of the module's docstring; set before the
    profile is loaded and inherited by every service process."""
    os.environ["TEST_DEVSTACK_DATA_DIR"] = str(chaos_report_file().parent)
    os.environ.setdefault("TEST_ORDER_EXPIRATION_SECONDS", str(int(plan.shape.expiration_seconds)))
    os.environ.setdefault("PAYMENT_ATTEMPT_LEASE_SECONDS", "30")
    os.environ.setdefault("PAYMENTS_RECONCILE_INTERVAL_SECONDS", "5")
    # Buyers walk away from reservations on purpose: the per-user cap must not refuse them.
    os.environ.setdefault("MAX_OPEN_ORDERS_PER_USER", "1000")
    # A consumer whose rejoin never completes gives up sooner than the default 60 s, well
    # inside the audit's settling time (ticketing_shared.events.membership).
    os.environ.setdefault("CONSUMER_REJOIN_TIMEOUT_SECONDS", "30")


def _run(sup: Supervisor, profile: Profile, services: list[Service], plan: Plan, seed: int) -> Outcome:
    def say(message: str) -> None:
        sup.say(f"chaos: {message}")

    keys = infra.ensure_jwt_keys(profile)
    urls = {service.name: url(service, profile) for service in services}
    shape = replace(plan.shape, expiration_seconds=float(profile.setting("ORDER_EXPIRATION_SECONDS")))
    dsn = partial(_dsn, profile)
    publishers = [s.name for s in services if s.backend and s.publishes_events]
    # Before any event of this run: the watermark of the first broker restart starts here.
    watermark = runbook.Watermark(dsn, publishers, since=datetime.now(UTC) - timedelta(minutes=1))
    broker = runbook.BrokerRecovery(services, profile, keys, watermark=watermark,
                                    log_file=profile.log_dir / "chaos.runbook.log")

    say(f"{plan.name} run, seed {seed}: {plan.faults_per_kind} faults of each kind ({', '.join(KINDS)}) over "
        f"{plan.window:.0f} s, {shape.sellers} sellers and {shape.buyers} buyers, "
        f"{shape.expiration_seconds:g} s reservations")
    rng = random.Random(seed)
    load = Load(urls, shape, seed=seed)
    injector = Injector(sup, per_kind=plan.faults_per_kind, window=plan.window,
                        ready=lambda child: _ready(child, urls, profile), broker=broker, rng=rng, say=say)
    began = time.monotonic()
    load.start()
    time.sleep(WARM_UP)
    injector.start()
    try:
        _wait_for_faults(injector, load, say, began, give_up=3 * plan.window + 120)
    finally:
        injector.abort()
        say("faults done; letting the last buyers finish their round")
        load.stop()
    under_load = time.monotonic() - began
    reader = Reader(dsn, f"http://127.0.0.1:{profile.port('stripe')}")
    verdict = settle(reader, timeout=plan.settle_timeout, say=say)
    lag = consumer_lag(urls, services) if verdict.violations else []
    return Outcome(plan, seed, list(injector.faults), load.stats.snapshot(), verdict, sup.crashed(),
                   {"under load": under_load, "settling": verdict.waited}, lag)


def consumer_lag(urls: dict[str, str], services: list[Service]) -> list[str]:
    """Each consumer group's committed offsets behind the log, as its service's ``/metrics``
    says (``consumer_lag_messages``): whether a consumer that stopped applying events still
    had them to read, and on which partitions."""
    lines = []
    for service in services:
        if not (service.backend and service.name in urls):
            continue
        try:
            with urllib.request.urlopen(f"{urls[service.name]}/metrics", timeout=10) as response:
                text = response.read().decode()
        except (urllib.error.URLError, OSError) as exc:
            lines.append(f"{service.name}: /metrics did not answer ({exc})")
            continue
        lines += [f"{service.name}: {entry}" for entry in lagging_partitions(text)]
    return lines


def lagging_partitions(metrics: str) -> list[str]:
    """``order.created [2]: 3 behind`` for each non-zero ``consumer_lag_messages`` sample."""
    found = []
    for line in metrics.splitlines():
        if not line.startswith("consumer_lag_messages{"):
            continue
        labels, value = line.rsplit(" ", 1)
        if float(value) > 0:
            parsed = dict(part.split("=", 1) for part in labels[labels.index("{") + 1:-1].split(","))
            found.append(f"{parsed['topic'].strip(chr(34))} [{parsed['partition'].strip(chr(34))}]: "
                         f"{float(value):.0f} behind")
    return found


def _dsn(profile: Profile, database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:{profile.port('postgres')}/{database}"


def _wait_for_faults(injector: Injector, load: Load, say: Callable[[str], None], began: float,
                     give_up: float) -> None:
    """Until every fault is done, with a status line now and then; a kind stuck past
    ``give_up`` seconds (no target to hit) is left short, which the report counts."""
    next_status = time.monotonic() + STATUS_EVERY
    while not injector.done():
        if time.monotonic() - began > give_up:
            say(f"faults still not done after {give_up:.0f} s; stopping them")
            return
        time.sleep(0.5)
        if time.monotonic() >= next_status:
            next_status += STATUS_EVERY
            counts = injector.counts()
            figures = load.stats.snapshot()
            say(f"{time.monotonic() - began:.0f} s: faults " + ", ".join(f"{k} {counts[k]}" for k in KINDS)
                + f" | {figures['tickets listed']} tickets, {figures['orders']} orders "
                f"({figures['multi-ticket orders']} multi-ticket), {figures['payments']} "
                f"payments, {figures['cancels']} cancels | {figures['connection errors']} connection errors, "
                f"{figures['server errors']} 5xx")


def _ready(child: Child, urls: dict[str, str], profile: Profile) -> bool:
    """A restarted web process serves again; the broker answers metadata; others: running is enough."""
    if child.name.endswith(".web"):
        return _http_ok(f"{urls[child.name.removesuffix('.web')]}/healthz")
    if child.name == "kafka":
        return infra.broker_ready(profile.port("kafka"))
    return True


def _http_ok(address: str) -> bool:
    try:
        with urllib.request.urlopen(address, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


# -- the report ------------------------------------------------------------------


def report(outcome: Outcome) -> str:
    lines = ["", f"===== chaos ({outcome.plan.name}, seed {outcome.seed}): "
                 + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in outcome.seconds.items()), ""]
    lines += _fault_table(outcome)
    lines += ["", *_load_figures(outcome)]
    lines += ["", *_dead_letters(outcome.verdict.snapshot)]
    if outcome.verdict.violations:
        lines += ["", "Consumer groups behind the log at the end (committed offsets, from each /metrics):"]
        lines += [f"  {entry}" for entry in outcome.lag] or ["  none"]
    if outcome.crashed:
        lines += ["", "Exited on their own (and were restarted): " + ", ".join(outcome.crashed)]
    violations = outcome.violations
    state = "" if outcome.verdict.settled else " (events still in flight at the timeout)"
    by_rule = Counter(violation.rule for violation in violations)
    summary = f" ({', '.join(f'{n} {rule}' for rule, n in by_rule.most_common())})" if violations else ""
    lines += ["", f"Violations: {len(violations)} (target 0){summary}{state}"]
    lines += [f"  {violation}" for violation in violations[:200]]
    if len(violations) > 200:
        lines.append(f"  ... and {len(violations) - 200} more")
    return "\n".join(lines) + "\n"


def _fault_table(outcome: Outcome) -> list[str]:
    lines = [f"{'fault':<10} {'injected':>8} {'target':>6} {'back p50':>9} {'back max':>9} {'not back':>8}"]
    for kind in KINDS:
        faults = [f for f in outcome.faults if f.kind == kind]
        times = [f.recovery for f in faults if f.recovery is not None]
        p50 = f"{statistics.median(times):.1f} s" if times else "-"
        worst = f"{max(times):.1f} s" if times else "-"
        lines.append(f"{kind:<10} {len(faults):>8} {outcome.plan.faults_per_kind:>6} {p50:>9} {worst:>9} "
                     f"{len(faults) - len(times):>8}")
    return lines


def _load_figures(outcome: Outcome) -> list[str]:
    f, snap, shape = outcome.figures, outcome.verdict.snapshot, outcome.plan.shape
    expired = sum(1 for o in snap.orders.values() if o.status == "cancelled"
                  and (e := snap.expirations.get(o.id)) is not None and e.status == "fired")
    refunded = sum(1 for p in snap.payments.values() if p.status == "refunded")
    sold = sum(1 for t in snap.tickets.values() if t.sold)
    carts = sum(1 for o in snap.orders.values() if len(o.all_ticket_ids) > 1)
    carts_paid = sum(1 for o in snap.orders.values() if len(o.all_ticket_ids) > 1 and o.status == "complete")
    errors = sorted((name.removeprefix(ERROR), n) for name, n in f.items() if name.startswith(ERROR))
    return [
        f"Load: {shape.sellers} sellers, {shape.buyers} buyers ({f['users']} users signed up)",
        f"  tickets listed {f['tickets listed']}, price changes {f['price changes']} "
        f"(refused {f['price changes refused']})",
        f"  orders {f['orders']} (reservations refused {f['reservations refused']}, lost {f['reservations lost']})",
        f"  multi-ticket orders {f['multi-ticket orders']} (refused {f['multi-ticket reservations refused']}, "
        f"lost {f['multi-ticket reservations lost']}); tickets added {f['tickets added']} (refused "
        f"{f['tickets added refused']}, lost {f['tickets added lost']}), removed {f['tickets removed']} (refused "
        f"{f['tickets removed refused']}, lost {f['tickets removed lost']})",
        f"  payments {f['payments']} (of which at the last moment {f['last-moment payments']}; refused "
        f"{f['payments refused']}, lost {f['payments lost']})",
        f"  cancels {f['cancels']} (refused {f['cancels refused']}, lost {f['cancels lost']}), "
        f"abandoned {f['abandoned']}",
        f"  in the databases: {len(snap.tickets)} tickets ({sold} sold), {len(snap.orders)} orders ({carts} of "
        f"several tickets, {carts_paid} of them paid), {expired} expired by their deadline, {refunded} payments "
        "refunded",
        f"  errors while processes were down: {f['connection errors']} connection errors, "
        f"{f['server errors']} server errors" + (" (" + ", ".join(f"{n} {name}" for name, n in errors) + ")"
                                                 if errors else ""),
        f"  retries that found their request done: {f['reservations replayed']} reservations answered again "
        f"by their Idempotency-Key, {f['cart edits found done']} cart edits",
    ]


def _dead_letters(snapshot: Snapshot) -> list[str]:
    if not snapshot.dead_letters:
        return ["Dead letters: none"]
    lines = [f"Dead letters: {len(snapshot.dead_letters)}"]
    for letter in snapshot.dead_letters:
        why = letter.explanation()
        lines.append(f"  {letter.service} #{letter.id} {letter.event_type or letter.topic} {letter.event_id}: "
                     f"{letter.error} -> " + (f"explained: {why}" if why else "UNEXPLAINED (violation)"))
    return lines
