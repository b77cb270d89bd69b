"""Prometheus metrics: one registry per process, one place that names them."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["METRICS", "Metrics", "RouteMetrics", "route_metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
CIRCUIT_STATES = {"closed": 0, "half-open": 1, "open": 2}


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "kafkahooks_deliveries",
            "Events finished per route and outcome",
            ["route", "outcome"],
            registry=r,
        )
        self.attempts = Counter(
            "kafkahooks_attempts",
            "HTTP attempts by route and status class (2xx, 4xx, 5xx, error)",
            ["route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "kafkahooks_attempt_seconds",
            "HTTP attempt latency",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("kafkahooks_in_flight", "HTTP requests in flight", registry=r)
        # counted as a plain int and read at scrape time: a gauge's inc/dec takes a lock,
        # twice per request
        self.requests_in_flight = 0
        self.in_flight.set_function(lambda: self.requests_in_flight)
        self.window = Gauge(
            "kafkahooks_window_events", "Events taken and not finished", ["group"], registry=r
        )
        self.paused = Gauge(
            "kafkahooks_paused_partitions",
            "Partitions paused by backpressure",
            ["group"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "kafkahooks_dead_lettered",
            "Dead-letter records acknowledged",
            ["route", "reason"],
            registry=r,
        )
        self.parked = Counter(
            "kafkahooks_parked", "Events parked in a retry topic", ["route", "tier"], registry=r
        )
        self.lag = Gauge(
            "kafkahooks_consumer_lag",
            "Records behind the high watermark",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.circuit = Gauge(
            "kafkahooks_circuit_state", "0 closed, 1 half-open, 2 open", ["endpoint"], registry=r
        )
        self.commit_seconds = Histogram(
            "kafkahooks_commit_seconds",
            "Offset commit latency",
            ["mode"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.commits = Counter("kafkahooks_commits", "Offset commits", ["mode"], registry=r)
        self.route_disabled = Gauge(
            "kafkahooks_route_disabled",
            "1 while a route is disabled (410 Gone)",
            ["route"],
            registry=r,
        )
        self.internal_errors = Counter(
            "kafkahooks_internal_errors",
            "Events or batches that ended in an unexpected exception (InternalError)",
            ["route"],
            registry=r,
        )
        self.commit_failures = Counter(
            "kafkahooks_commit_failures",
            "Offset commits the broker refused or that failed (sent again with the next one)",
            ["group", "mode"],
            registry=r,
        )
        self.oldest_unfinished = Gauge(
            "kafkahooks_oldest_unfinished_seconds",
            "Age of the oldest unfinished event per partition (0 when none is unfinished)",
            ["group", "topic", "partition"],
            registry=r,
        )
        # the window for routes with endpoints: (kafka/offsets.py, kafka/progress.py)
        self.offsets_held = Gauge(
            "kafkahooks_offsets_held",
            "Offsets held in memory: unfinished events and finished ones behind them",
            ["group"],
            registry=r,
        )
        self.skipped_finished = Counter(
            "kafkahooks_skipped_finished",
            "Records not delivered again: a previous owner finished them (progress topic)",
            ["group"],
            registry=r,
        )
        self.progress_writes = Counter(
            "kafkahooks_progress_writes",
            "Progress-topic records written (finished offsets above a commit, or a clear)",
            ["group"],
            registry=r,
        )
        self.progress_failures = Counter(
            "kafkahooks_progress_failures",
            "Progress-topic reads or writes that failed (duplicates possible, nothing lost)",
            ["group"],
            registry=r,
        )
        # the endpoint store (endpoints/table.py): no label carries an id, tenant or URL
        self.store_rejected = Counter(
            "kafkahooks_store_rejected",
            "Store records refused (the key's last good version stays in force), by reason",
            ["reason"],
            registry=r,
        )
        self.store_records_by_key = Gauge(
            "kafkahooks_store_records_by_key",
            "Store records encrypted under each key id (a key is removed only at zero)",
            ["kid"],
            registry=r,
        )


METRICS = Metrics()


class RouteMetrics:
    """A route's metric children, resolved once: ``labels()`` costs a lock and a lookup
    per call, and these are touched for every event."""

    def __init__(self, route: str) -> None:
        self.route = route
        self.latency = METRICS.latency.labels(route)
        self.delivered = METRICS.deliveries.labels(route, "delivered")
        self._attempts: dict[str, Any] = {}

    def attempt(self, status: int | None) -> None:
        klass = "error" if status is None else f"{status // 100}xx"
        child = self._attempts.get(klass)
        if child is None:
            child = self._attempts[klass] = METRICS.attempts.labels(self.route, klass)
        child.inc()


_ROUTES: dict[str, RouteMetrics] = {}


def route_metrics(route: str) -> RouteMetrics:
    found = _ROUTES.get(route)
    if found is None:
        found = _ROUTES[route] = RouteMetrics(route)
    return found
