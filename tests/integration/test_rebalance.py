"""A rebalance while deliveries are in flight: the revoked partitions drain and commit
synchronously before the new owner starts, so nothing is lost or sent twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.integration.test_throughput import calls, committed_total
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import create_topic, produce, unique
from tests.support.logs import logged
from tests.support.receiver import Receiver, Reply

Start = Callable[..., BridgeProcess]
EVENTS = 800
PARTITIONS = 4
# slow enough that the first member is still delivering when the second one joins
ENV = {"KAFKAHOOKS_MAX_IN_FLIGHT": "8", "KAFKAHOOKS_WINDOW": "100"}


def slow(_: object) -> Reply:
    return Reply(200, delay=0.1)  # 800 events take ~10 s: a loaded machine still joins in time


def test_revocation_during_in_flight_deliveries_loses_nothing(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group = create_topic(bootstrap, unique("calls"), PARTITIONS), unique("g")
    produce(bootstrap, topic, calls(EVENTS, keys=40))
    receiver.behaviour = slow
    joiner = Receiver(slow)  # the second member's deliveries, told apart
    try:
        first = start_bridge(routes_file(tmp_path / "a.yaml", bootstrap, group,
                                         [simple_route("calls", topic, receiver.url)]), ENV)
        receiver.wait_count(20)
        second = start_bridge(routes_file(tmp_path / "b.yaml", bootstrap, group,
                                          [simple_route("calls", topic, joiner.url)]), ENV)
        wait_until(lambda: logged(first.output(), "partitions revoked"), timeout=30)
        assert len(receiver.requests) < EVENTS, "the rebalance came too late to test anything"

        def all_delivered() -> bool:
            ids = {r.json()["id"] for r in [*receiver.requests, *joiner.requests]}
            return len(ids) == EVENTS

        wait_until(all_delivered, timeout=60)
        assert first.terminate() == 0
        assert second.terminate() == 0
    finally:
        joiner.close()

    counts = Counter(r.json()["id"] for r in [*receiver.requests, *joiner.requests])
    assert set(counts) == set(range(EVENTS))  # lost = 0
    assert max(counts.values()) == 1  # the drain finished in time: nothing redelivered
    (revoked, *_) = logged(first.output(), "partitions revoked")
    assert revoked["partitions"] and revoked["drained"] is True
    assert joiner.requests, "the second member never delivered: no partition moved"
    assert committed_total(bootstrap, group, topic, PARTITIONS) == EVENTS
