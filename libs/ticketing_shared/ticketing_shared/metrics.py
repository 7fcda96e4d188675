"""``/metrics`` in Prometheus format: HTTP traffic, and the event flow read from the database.

Request counts and latencies are counted in the web process. The event gauges
(outbox backlog and the age of its oldest pending event, events applied and dead
letters per type, consumer lag) are read at scrape time from the service's own
tables and the broker, so they are true whichever process (web, consumer, worker)
did the work. Set ``PROMETHEUS_MULTIPROC_DIR`` when gunicorn runs several workers.

Every label value comes from a closed set, so no caller can grow the series: a method
outside HTTP's own is counted as "other", a path no URL pattern matches as "unmatched".
With ``METRICS_PORT`` set, ``/metrics`` answers only on that port (the chart's gunicorn
listens on it besides the app's port, and no Service or Ingress routes it): the public
site, which the Ingress routes to the web client, has no ``/metrics``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

REQUESTS = Counter("http_requests_total", "HTTP requests answered.", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
_SKIPPED = ("/metrics", "/healthz", "/readyz", "/static/")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
OTHER_METHOD = "other"
UNMATCHED_ROUTE = "unmatched"


class MetricsMiddleware:
    """Counts every request by its URL pattern (not its path: ids would explode the labels)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        if not request.path.startswith(_SKIPPED):
            method, route = method_label(request), route_label(request)
            LATENCY.labels(method, route).observe(time.perf_counter() - started)
            REQUESTS.labels(method, route, str(response.status_code)).inc()
        return response


def method_label(request: HttpRequest) -> str:
    """HTTP's methods by name; anything a client made up as one value, or each would be a series."""
    return request.method if request.method in METHODS else OTHER_METHOD


def route_label(request: HttpRequest) -> str:
    """The URL pattern that answered; one value for every path none matched (404s of the
    resolver), since those paths are whatever the caller typed."""
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None else UNMATCHED_ROUTE


class EventFlowCollector(Collector):
    """The outbox, the inbox, parked events and dead letters of this service, as scraped gauges."""

    def collect(self) -> Iterator[Metric]:
        from ticketing_shared.events.inbox import consumed_per_type_sql
        from ticketing_shared.events.models import DeadLetter, OutboxEvent, ParkedEvent

        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT count(*), coalesce(extract(epoch FROM now() - min(occurred_at)), 0) "
                    f"FROM {OutboxEvent._meta.db_table} WHERE published_at IS NULL"
                )
                pending, oldest_age = cursor.fetchone()
                cursor.execute(consumed_per_type_sql())
                processed = cursor.fetchall()
                cursor.execute(
                    f"SELECT event_type, status, count(*) FROM {DeadLetter._meta.db_table} GROUP BY event_type, status"
                )
                dead = cursor.fetchall()
                cursor.execute(
                    f"SELECT event_type, reason, count(*), coalesce(extract(epoch FROM now() - min(first_seen_at)), 0) "
                    f"FROM {ParkedEvent._meta.db_table} GROUP BY event_type, reason"
                )
                parked = cursor.fetchall()
        except Exception as exc:  # a scrape must answer even when the database does not
            logger.warning("metrics: cannot read the event tables: %s", exc)
            return
        yield GaugeMetricFamily("outbox_pending_events", "Outbox events not yet acknowledged by Kafka.", value=pending)
        yield GaugeMetricFamily(
            "outbox_oldest_pending_age_seconds", "Age of the oldest unpublished outbox event.", value=float(oldest_age)
        )
        applied = CounterMetricFamily("events_consumed", "Events applied by this service.", labels=["type"])
        for event_type, count in processed:
            applied.add_metric([event_type], float(count))
        yield applied
        letters = GaugeMetricFamily("dead_letters", "Events that failed for good, by state.", labels=["type", "status"])
        for event_type, status, count in dead:
            letters.add_metric([event_type or "unknown", status], count)
        yield letters
        waiting = GaugeMetricFamily("parked_events", "Events set aside until they can apply, by reason.",
                                    labels=["type", "reason"])
        oldest = GaugeMetricFamily("parked_oldest_age_seconds", "How long the oldest parked event has waited.",
                                   labels=["type", "reason"])
        for event_type, reason, count, age in parked:
            waiting.add_metric([event_type, reason], count)
            oldest.add_metric([event_type, reason], float(age))
        yield waiting
        yield oldest
        yield from consumer_lag()


_LAG_TTL = 15.0
_lag_lock = threading.Lock()
_lag_cache: tuple[float, list[tuple[str, int, int]]] = (0.0, [])


def consumer_lag() -> Iterator[Metric]:
    """Messages the consumer group has not committed yet, per partition (cached: it asks the broker)."""
    from ticketing_shared.events.registry import registered_types

    topics = registered_types()
    if not topics:
        return
    global _lag_cache
    with _lag_lock:
        fetched_at, rows = _lag_cache
        if time.monotonic() - fetched_at > _LAG_TTL:
            rows = _fetch_lag(topics)
            _lag_cache = (time.monotonic(), rows)
    lag = GaugeMetricFamily("consumer_lag_messages", "Messages not yet consumed.", labels=["topic", "partition"])
    for topic, partition, value in rows:
        lag.add_metric([topic, str(partition)], value)
    yield lag


def _fetch_lag(topics: list[str]) -> list[tuple[str, int, int]]:
    from confluent_kafka import KafkaException, TopicPartition

    from ticketing_shared.events.kafka import new_consumer

    rows: list[tuple[str, int, int]] = []
    consumer = new_consumer(**{"group.id": settings.SERVICE_NAME})
    try:
        metadata = consumer.list_topics(timeout=2)
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            if topic in metadata.topics
            for partition in metadata.topics[topic].partitions
        ]
        for committed in consumer.committed(partitions, timeout=2) if partitions else []:
            _, high = consumer.get_watermark_offsets(committed, timeout=2, cached=False)
            position = committed.offset if committed.offset >= 0 else 0
            rows.append((committed.topic, committed.partition, max(0, high - position)))
    except KafkaException as exc:
        logger.warning("metrics: cannot read consumer lag: %s", exc)
    finally:
        consumer.close()
    return rows


_registered = False
_register_lock = threading.Lock()


def metrics_view(request: HttpRequest) -> HttpResponse:
    """HTTP metrics everywhere; the event-flow gauges where the service has an outbox."""
    global _registered
    if not on_metrics_port(request):
        raise Http404("Not Found")
    has_events = apps.is_installed("ticketing_shared.events")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        if has_events:
            registry.register(EventFlowCollector())
    else:
        registry = REGISTRY
        with _register_lock:
            if has_events and not _registered:
                REGISTRY.register(EventFlowCollector())
                _registered = True
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def on_metrics_port(request: HttpRequest) -> bool:
    """True unless ``METRICS_PORT`` names another port than the one the request came in on.

    ``SERVER_PORT`` is the port of the socket gunicorn accepted the connection on (the Host
    header does not change it), so a request through the Ingress, which reaches the app's
    port only, cannot claim to be a scrape.
    """
    port = getattr(settings, "METRICS_PORT", 0)
    return not port or request.META.get("SERVER_PORT") == str(port)
