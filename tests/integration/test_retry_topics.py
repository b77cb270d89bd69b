"""Long retry schedules through Kafka retry topics: parked events don't block the partition."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, headers_of, produce, read_topic, unique
from tests.support.logs import logged
from tests.support.receiver import Receiver, Reply, Request

Start = Callable[..., BridgeProcess]


def test_a_parked_event_is_retried_after_its_delay_with_the_same_event_id(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    prefix = unique("retry")
    failures = {"left": 2}  # event 1 fails its first attempt and its first parked retry

    def behaviour(request: Request) -> Reply:
        if request.json()["id"] == 1 and failures["left"] > 0:
            failures["left"] -= 1
            return Reply(503)
        return Reply(200)

    receiver.behaviour = behaviour
    produce(bootstrap, topic, [("k", {"event": "e", "id": i, "status": "s"}) for i in range(1, 4)])
    route = simple_route("calls", topic, receiver.url,
                         retry={"max_attempts": 1, "initial_backoff": 0.05},
                         retry_topics={"delays": [1.0, 1.5, 2.0], "prefix": prefix})
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group, [route]))

    # the partition moves on at once: events 2 and 3 go out, the source offset passes event 1
    receiver.wait_for(lambda reqs: {r.json()["id"] for r in reqs if r.status == 200} >= {2, 3})
    wait_until(lambda: committed(bootstrap, group, topic) == [3], timeout=15)
    receiver.wait_for(lambda reqs: any(r.json()["id"] == 1 and r.status == 200 for r in reqs),
                      timeout=30)
    assert bridge.terminate() == 0

    attempts = [r for r in receiver.requests if r.json()["id"] == 1]
    assert [r.status for r in attempts] == [503, 503, 200]
    assert len({r.headers["webhook-id"] for r in attempts}) == 1  # same event id throughout
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 1.0 and gaps[1] >= 1.5  # never before its tier's delay
    parked = read_topic(bootstrap, f"{prefix}.1", 1)
    h = headers_of(parked[0])
    assert h["kafkahooks.retry.route"] == "calls"
    assert h["kafkahooks.retry.source.topic"] == topic
    assert h["kafkahooks.retry.source.offset"] == "0"


def test_after_the_last_tier_the_event_is_dead_lettered(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    receiver.behaviour = lambda _: Reply(503)
    produce(bootstrap, topic, [("k", {"event": "e", "id": 7, "status": "s"})])
    route = simple_route("calls", topic, receiver.url,
                         retry={"max_attempts": 1, "initial_backoff": 0.05},
                         retry_topics={"delays": [0.5], "prefix": unique("retry")},
                         circuit_breaker={"enabled": False})
    started = time.monotonic()
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group, [route]))
    dead = read_topic(bootstrap, f"{topic}.dlq", 1, timeout=30)
    assert bridge.terminate() == 0
    assert len(receiver.requests) == 2  # first try + one parked retry
    assert time.monotonic() - started >= 0.5
    h = headers_of(dead[0])
    assert h["kafkahooks.source.topic"] == topic and h["kafkahooks.source.offset"] == "0"
    assert h["kafkahooks.event_id"] == receiver.requests[0].headers["webhook-id"]


def test_a_parked_event_whose_route_was_renamed_is_dead_lettered_not_dropped(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group, prefix = create_topic(bootstrap, unique("calls")), unique("g"), unique("retry")
    receiver.behaviour = lambda _: Reply(503)
    route = simple_route("calls", topic, receiver.url,
                         retry={"max_attempts": 1, "initial_backoff": 0.05},
                         retry_topics={"delays": [12.0], "prefix": prefix},
                         circuit_breaker={"enabled": False})
    path = routes_file(tmp_path / "r.yaml", bootstrap, group, [route])
    bridge = start_bridge(path)
    produce(bootstrap, topic, [("k", {"event": "e", "id": 1, "status": "s"})])
    # parked, due in 12 s: this bridge stops long before it could retry the record itself
    # (with 4 s, reading the record back took longer on a loaded runner: this bridge
    # retried it first, dead-lettered it as failed, and the test read that dead letter)
    read_topic(bootstrap, f"{prefix}.1", 1, timeout=30)
    assert bridge.terminate() == 0

    # renamed, reading the same retry topics: the parked record names a route that is gone.
    # A restart, not a reload, so the old route can never retry it first on a slow machine.
    routes_file(path, bootstrap, group, [{**route, "name": "calls-v2"}])
    bridge = start_bridge(path)
    dead = read_topic(bootstrap, f"{topic}.dlq", 1, timeout=30)
    wait_until(lambda: committed(bootstrap, group, f"{prefix}.1", 4) != [-1001] * 4, timeout=15)
    assert bridge.terminate() == 0

    h = headers_of(dead[0])
    assert h["kafkahooks.error.class"] == "RouteRemovedError"
    assert h["kafkahooks.error.message"].startswith("route-removed")
    assert h["kafkahooks.route"] == "calls"
    assert h["kafkahooks.source.topic"] == topic and h["kafkahooks.source.offset"] == "0"
    assert h["kafkahooks.event_id"] == receiver.requests[0].headers["webhook-id"]
    assert len(receiver.requests) == 1  # the renamed route did not retry it
    assert logged(bridge.output(), "parked event dead-lettered")
