"""How late do deadlines fire? A measurement on a fresh stack of this service alone.

Starts PostgreSQL, Redis and the broker on the test profile's ports (``TEST_*_PORT``,
``TEST_DEVSTACK_DATA_DIR``) and this service's web, consumer, Celery worker and beat
exactly as ``make dev`` runs them; then publishes ``--orders`` ``order.created``
events whose deadlines all fall within the same ``--window`` seconds, and reads the
``expiration.complete`` events back from Kafka. Lateness is measured from each
deadline to the moment the event is written (``fired_at``) and to the moment a
consumer receives it from the broker.

    .venv/bin/python bench/expiration_lateness.py --orders 1000 --window 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devstack import profiles, stack  # noqa: E402
from devstack.services import SERVICES  # noqa: E402
from devstack.supervisor import Supervisor, raise_on_signals  # noqa: E402


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def summary(label: str, seconds: list[float]) -> str:
    if not seconds:
        return f"{label:<34} none   (n=0)"
    ms = [s * 1000 for s in seconds]
    return (
        f"{label:<34} p50 {statistics.median(ms):7.0f} ms   p99 {percentile(ms, 99):7.0f} ms   "
        f"max {max(ms):7.0f} ms   (n={len(ms)})"
    )


def measure(profile: profiles.Profile, *, orders: int, window: float, lead: float) -> int:
    """Prints the figures; returns how many deadlines never reached Kafka."""
    import psycopg
    from confluent_kafka import Consumer, Producer

    bootstrap = f"127.0.0.1:{profile.port('kafka')}"
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"lateness-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,
            "session.timeout.ms": 6000,
            "max.poll.interval.ms": 10000,
            "topic.metadata.refresh.interval.ms": 200,
        }
    )
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    producer.produce("expiration.complete", key="warm-up", value=b"{}")  # the topic exists before we subscribe
    producer.flush(10)
    consumer.subscribe(["expiration.complete"])

    def publish(order_id: str, expires_at: datetime) -> None:
        envelope = {
            "id": str(uuid.uuid4()),
            "type": "order.created",
            "occurred_at": datetime.now(UTC).isoformat(),
            "source": "orders",  # the consumers take order events from the orders service only
            "data": {
                "id": order_id,
                "status": "created",
                "user_id": str(uuid.uuid4()),
                "expires_at": expires_at.isoformat(),
                "version": 0,
                "ticket": {"id": str(uuid.uuid4()), "price": "20.00"},
            },
        }
        producer.produce(
            "order.created",
            key=order_id,
            value=json.dumps(envelope),
            headers=[("id", envelope["id"]), ("type", "order.created")],
        )

    # A first deadline, due at once, fires only once the consumer has joined and the worker
    # runs: on a busy machine that takes a while, and it is not lateness.
    warm_up = str(uuid.uuid4())
    publish(warm_up, datetime.now(UTC))
    producer.flush(30)
    ready_by = time.monotonic() + 300
    while time.monotonic() < ready_by:
        message = consumer.poll(0.1)
        if message is not None and not message.error() and (message.key() or b"").decode() == warm_up:
            break
    else:
        print("the expiration service fired no deadline within 300 s", flush=True)
        consumer.close()
        return orders

    start = datetime.now(UTC) + timedelta(seconds=lead)
    deadlines = {str(uuid.uuid4()): start + timedelta(seconds=window * n / orders) for n in range(orders)}
    for order_id, expires_at in deadlines.items():
        publish(order_id, expires_at)
    producer.flush(30)
    print(
        f"published {orders} order.created, deadlines from {lead:.0f} s to {lead + window:.0f} s from now", flush=True
    )

    received: dict[str, float] = {}
    # Until every deadline fired, or a minute after the last deadline and 30 s after the last
    # event: on a busy machine the service may still be starting or catching up.
    last_deadline = time.monotonic() + lead + window
    idle_since = time.monotonic()
    while len(received) < orders and (time.monotonic() < last_deadline + 60 or time.monotonic() - idle_since < 30):
        message = consumer.poll(0.05)
        if message is None or message.error():
            continue
        key = (message.key() or b"").decode()
        if key in deadlines and key not in received:
            received[key] = time.time()
            idle_since = time.monotonic()
    consumer.close()

    dsn = f"postgresql://postgres@127.0.0.1:{profile.port('postgres')}/expiration"
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT order_id::text, EXTRACT(EPOCH FROM fired_at - expires_at) FROM expirations_expiration "
            "WHERE status = 'fired'"
        ).fetchall()
    written = [float(late) for order_id, late in rows if order_id in deadlines]
    delivered = [received[key] - deadlines[key].timestamp() for key in received]
    print()
    print(summary("deadline -> expiration.complete written", written))
    print(summary("deadline -> received from Kafka", delivered))
    missing = orders - len(received)
    early = sum(1 for late in written if late < 0)
    print(f"missing: {missing}   fired early: {early}")
    return missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--window", type=float, default=10.0, help="seconds over which the deadlines fall")
    parser.add_argument("--lead", type=float, default=8.0, help="seconds from now to the first deadline")
    args = parser.parse_args()

    profile = profiles.load("test")
    services = [service for service in SERVICES if service.name == "expiration"]
    sup = Supervisor(log_dir=profile.log_dir)
    raise_on_signals()
    try:
        stack.start_infra(sup, profile, services)
        stack.start_services(sup, profile, services)
        time.sleep(3)  # the consumer joins its group
        if measure(profile, orders=args.orders, window=args.window, lead=args.lead) == args.orders:
            print("no deadline fired: is the expiration service's consumer or worker running?")
            return 1
    except KeyboardInterrupt:
        return 130
    finally:
        sup.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
