"""Ordering modes and backpressure, end to end: real broker, real receiver.

Every event carries a global sequence number ``id``; one key's events are
produced in ``id`` order, so one key's ids must reach the receiver in
increasing order whenever the route keeps key order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.bridge import BridgeProcess, routes_file, simple_route
from tests.support.kafka import committed, create_topic, produce, unique
from tests.support.logs import logged
from tests.support.receiver import (
    Receiver,
    Reply,
    Request,
    fail_first_attempt,
    ok,
    with_latency,
)

Start = Callable[..., BridgeProcess]


def calls(n: int, keys: int) -> list[tuple[str | None, Any]]:
    return [(f"call-{i % keys}", {"event": "e", "id": i, "status": "s"}) for i in range(n)]


def status(request: Request) -> int:
    return int(getattr(request, "status", 200))


def delivered_ids(requests: list[Request]) -> set[int]:
    return {r.json()["id"] for r in requests if status(r) < 300}


def out_of_order(requests: list[Request], lane: Callable[[dict[str, Any]], Any]) -> list[Any]:
    """Lanes whose ids, in arrival order, do not strictly increase.

    Consecutive requests for the same id are one event being retried and
    count once; a retry that comes back after a later event of its lane is
    a violation.
    """
    seen: dict[Any, list[int]] = defaultdict(list)
    for request in requests:
        body = request.json()
        ids = seen[lane(body)]
        if not ids or ids[-1] != body["id"]:
            ids.append(body["id"])
    return [name for name, ids in seen.items() if ids != sorted(set(ids))]


def committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Events covered by the group's commits (a partition never committed counts 0)."""
    return sum(max(0, o) for o in committed(bootstrap, group, topic, partitions))


def every_id_arrived(n: int) -> Callable[[list[Request]], bool]:
    return lambda reqs: delivered_ids(reqs) == set(range(n))


def test_key_order_holds_under_random_latency_and_retries(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    events, keys, partitions = 400, 50, 4
    topic, group = create_topic(bootstrap, unique("calls"), partitions), unique("g")
    produce(bootstrap, topic, calls(events, keys))
    retried = fail_first_attempt(lambda r: r.json()["id"] % 5 == 0)
    receiver.behaviour = with_latency(retried, 0.03, seed=4)
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group,
                                      [simple_route("calls", topic, receiver.url)]))

    receiver.wait_for(every_id_arrived(events), timeout=60)
    assert bridge.terminate() == 0
    requests = list(receiver.requests)
    assert sum(status(r) == 503 for r in requests) == events // 5  # retries did happen
    assert out_of_order(requests, lambda body: body["key"]) == []
    # different keys ran in parallel: more at once than there are partitions
    assert receiver.max_concurrent > partitions
    assert committed_total(bootstrap, group, topic, partitions) == events


def test_none_mode_delivers_everything_even_one_key_in_parallel(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    events = 200
    topic, group = create_topic(bootstrap, unique("calls"), 2), unique("g")
    produce(bootstrap, topic, calls(events, keys=1))  # one key: one partition
    retried = fail_first_attempt(lambda r: r.json()["id"] % 9 == 0)
    receiver.behaviour = with_latency(retried, 0.03, seed=9)
    route = simple_route("calls", topic, receiver.url, ordering="none")
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group, [route]))

    receiver.wait_for(every_id_arrived(events), timeout=60)
    assert bridge.terminate() == 0
    assert sum(status(r) == 503 for r in receiver.requests) == len(range(0, events, 9))
    assert receiver.max_concurrent > 1  # one key of one partition, yet in parallel
    assert committed_total(bootstrap, group, topic, 2) == events


def test_partition_mode_keeps_one_in_flight_per_partition_in_offset_order(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    events, partitions = 200, 2
    topic, group = create_topic(bootstrap, unique("calls"), partitions), unique("g")
    produce(bootstrap, topic, calls(events, keys=30))
    receiver.behaviour = with_latency(ok, 0.01, seed=2)
    route = simple_route("calls", topic, receiver.url, ordering="partition")
    route["template"]["partition"] = "{{ partition }}"
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group, [route]))

    receiver.wait_for(every_id_arrived(events), timeout=60)
    assert bridge.terminate() == 0
    assert receiver.max_concurrent <= partitions
    assert out_of_order(list(receiver.requests), lambda body: body["partition"]) == []
    assert committed_total(bootstrap, group, topic, partitions) == events


def test_a_full_window_pauses_and_resumes_and_loses_nothing(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    # A window full for a moment only makes the loop wait; full for longer than a second
    # (here: the first window's answers take 1.5 s) it pauses the partitions.
    events, window, partitions = 160, 20, 4
    topic, group = create_topic(bootstrap, unique("calls"), partitions), unique("g")
    produce(bootstrap, topic, calls(events, keys=50))
    receiver.behaviour = lambda r: Reply(200, delay=1.5 if r.json()["id"] < window else 0.005)
    env = {"KAFKAHOOKS_WINDOW": str(window), "KAFKAHOOKS_LOG_LEVEL": "DEBUG"}
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group,
                                      [simple_route("calls", topic, receiver.url)]), env)

    receiver.wait_for(every_id_arrived(events), timeout=60)
    assert bridge.terminate() == 0
    assert len(receiver.requests) == events  # nothing twice
    paused = logged(bridge.output(), "partitions paused")
    assert paused, "the window never filled"
    assert logged(bridge.output(), "partitions resumed")
    # never more taken than the window has room for
    assert all(record["outstanding"] <= window for record in paused)
    assert receiver.max_concurrent <= window
    assert committed_total(bootstrap, group, topic, partitions) == events
