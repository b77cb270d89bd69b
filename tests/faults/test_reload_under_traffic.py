"""A valid hot reload under traffic, while events are parked on retry topics and in flight.

Two source topics flow steadily.  Route ``calls`` reads both and parks a tenth of its
events (a first 503) on retry topics; route ``audit`` reads one and parks another tenth;
route ``extra`` reads the other.  Mid-stream a reload drops ``orders`` from ``calls``,
renames ``audit`` to ``audit-v2`` (same retry topics) and removes ``extra``.  Required:
the process keeps running; every source event is finished (committed) with an outcome;
every parked record is delivered, or dead-lettered as ``route-removed`` (or
``parked-undecodable``); the routes' outcomes on a topic they stopped reading form a
prefix of each partition (nothing in the middle skipped).
"""

from __future__ import annotations

import signal
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Message

from kafkahooks.event import event_id
from tests.faults.fleet import Start, check_alive
from tests.support.bridge import routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, headers_of, read_topic, unique
from tests.support.logs import logged
from tests.support.receiver import Receiver, Reply, Request
from tests.support.stream import PacedProducer

DELAY = 3.0  # seconds a parked event waits
PARTITIONS = 2
Source = tuple[str, int, int]  # topic, partition, offset


class Outcomes:
    """The receiver: a first 503 for the selected events of each route, then 200; records
    every 2xx by webhook-id with the source coordinates the template put in the body."""

    def __init__(self) -> None:
        self.delivered: dict[str, Source] = {}
        self.by_route: dict[str, set[Source]] = defaultdict(set)
        self.first_tries: set[str] = set()
        self.requests = 0
        self._lock = threading.Lock()

    @staticmethod
    def _parks(route: str, body: dict[str, Any]) -> bool:
        """Routes with retry topics park a tenth of their events; ``extra`` none."""
        if route == "extra":
            return False
        return bool(body["id"] % 10 == (5 if route.startswith("audit") else 0))

    def __call__(self, request: Request) -> Reply:
        body = request.json()
        route, wid = body["route"], request.headers["webhook-id"]
        with self._lock:
            self.requests += 1
            first = wid not in self.first_tries
            self.first_tries.add(wid)
            if first and self._parks(route, body):
                return Reply(503)
            source = (body["topic"], int(body["partition"]), int(body["offset"]))
            self.delivered[wid] = source
            self.by_route[route].add(source)
        return Reply(200, delay=0.01)  # deliveries are in flight at the reload

    def has(self, wid: str) -> bool:
        with self._lock:
            return wid in self.delivered


def _route(name: str, topics: list[str], url: str, **options: Any) -> dict[str, Any]:
    template = {
        "id": "{{ value.id }}",
        "route": "{{ route }}",
        "topic": "{{ topic }}",
        "partition": "{{ partition }}",
        "offset": "{{ offset }}",
    }
    return simple_route(
        name,
        topics[0],
        f"{url}/{name}",
        topics=topics,
        template=template,
        retry={"max_attempts": 1, "initial_backoff": 0.05},
        circuit_breaker={"enabled": False},
        **options,
    )


def _all(bootstrap: str, topic: str) -> list[Message]:
    """Every record of ``topic`` now (the broker's end offsets are not trusted)."""
    return read_topic(bootstrap, topic, 10**9, timeout=4)


def _source(h: dict[str, str], prefix: str) -> Source:
    return (
        h[f"{prefix}source.topic"],
        int(h[f"{prefix}source.partition"]),
        int(h[f"{prefix}source.offset"]),
    )


@pytest.mark.timeout(180)
def test_a_reload_under_traffic_with_parked_events_gives_every_event_an_outcome(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    calls_topic = create_topic(bootstrap, unique("calls"), PARTITIONS)
    orders = create_topic(bootstrap, unique("orders"), PARTITIONS)
    group, path = unique("g"), tmp_path / "routes.yaml"
    p_calls, p_audit = unique("retry-calls"), unique("retry-audit")
    outcomes = Outcomes()
    receiver.behaviour = outcomes
    delays = {"delays": [DELAY]}
    calls = _route(
        "calls", [calls_topic, orders], receiver.url, retry_topics={**delays, "prefix": p_calls}
    )
    audit = _route("audit", [calls_topic], receiver.url, retry_topics={**delays, "prefix": p_audit})
    extra = _route("extra", [orders], receiver.url)
    routes_file(path, bootstrap, group, [calls, audit, extra])
    started = time.monotonic()
    bridge = start_bridge(path, {"KAFKAHOOKS_WINDOW": "400"})
    stop = threading.Event()
    streams = [
        PacedProducer(bootstrap, t, rate=60, minimum=100, maximum=5000, until=stop.is_set).start()
        for t in (calls_topic, orders)
    ]

    # traffic flows and events are parked, then the reload lands while some are still due
    wait_until(lambda: outcomes.requests >= 150, timeout=60)
    time.sleep(DELAY / 2)
    check_alive([bridge])
    after = {**calls, "topics": [calls_topic]}
    routes_file(path, bootstrap, group, [after, {**audit, "name": "audit-v2"}])
    bridge.proc.send_signal(signal.SIGHUP)
    reloaded_at = time.monotonic()
    wait_until(lambda: logged(bridge.output(), "config reloaded"), timeout=15)
    time.sleep(2.0)
    stop.set()
    for stream in streams:
        stream.join(30)
    produced = {s.topic: s.produced for s in streams}

    # every event of the topic still read is finished; every parked record gets its outcome
    def finished(topic: str) -> list[int]:
        return [max(0, o) for o in committed(bootstrap, group, topic, PARTITIONS)]

    wait_until(lambda: sum(finished(calls_topic)) == produced[calls_topic], timeout=60)
    parked = [headers_of(m) for t in (p_calls, p_audit) for m in _all(bootstrap, f"{t}.1")]

    def parked_ids() -> dict[str, dict[str, str]]:
        return {
            event_id(
                *_source(h, "kafkahooks.retry."),
                int(h["kafkahooks.retry.source.timestamp"]),
                h["kafkahooks.retry.route"],
            ): h
            for h in parked
        }

    dead: dict[str, dict[str, str]] = {}

    def settled() -> bool:
        check_alive([bridge])
        for t in (calls_topic, orders):
            for m in _all(bootstrap, f"{t}.dlq"):
                h = headers_of(m)
                dead[h["kafkahooks.event_id"]] = h
        return all(outcomes.has(w) or w in dead for w in parked_ids())

    wait_until(settled, timeout=60, interval=1.0)
    assert bridge.terminate() == 0
    elapsed = time.monotonic() - started

    reasons = {h["kafkahooks.error.class"] for h in dead.values()}
    removed = [h for h in dead.values() if h["kafkahooks.error.class"] == "RouteRemovedError"]
    parked_delivered = sum(outcomes.has(w) for w in parked_ids())
    print(
        f"\nreload under traffic with parked events: produced={sum(produced.values())} "
        f"({produced[calls_topic]} calls, {produced[orders]} orders) parked={len(parked)} "
        f"parked_delivered={parked_delivered} dead_lettered_route_removed={len(removed)} "
        f"requests={outcomes.requests} reload_after_s={reloaded_at - started:.1f} "
        f"elapsed_s={elapsed:.1f} exit=0"
    )
    assert reasons <= {"RouteRemovedError", "ParkedUndecodableError"}, reasons
    assert removed, "no parked event met the reload (the scenario did not happen)"
    assert {h["kafkahooks.route"] for h in removed} <= {"calls", "audit"}
    for h in removed:
        assert h["kafkahooks.error.message"].startswith("route-removed")
    by_source = {_source(h, "kafkahooks."): h["kafkahooks.route"] for h in removed}

    def done(route: str) -> set[Source]:
        return outcomes.by_route[route] | {s for s, r in by_source.items() if r == route}

    # every event of the topic read throughout has an outcome on each of its routes
    calls_events = {
        (calls_topic, p, o) for p in range(PARTITIONS) for o in range(finished(calls_topic)[p])
    }
    assert calls_events <= done("calls")
    assert calls_events <= done("audit") | done("audit-v2")
    # the topic no longer read: what was committed had every outcome, nothing after it had
    # any (it stays for a route that reads it again)
    committed_orders = finished(orders)
    for route in ("calls", "extra"):
        for p in range(PARTITIONS):
            offsets = {o for t, q, o in done(route) if t == orders and q == p}
            assert offsets == set(range(committed_orders[p])), f"{route}: {orders}/{p}"
