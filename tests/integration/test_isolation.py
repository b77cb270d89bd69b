"""One bad endpoint must not hurt the others: consumer-group isolation, circuit breaker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.test_throughput import calls, committed_total, delivered_ids, status
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, produce, unique
from tests.support.logs import logged
from tests.support.receiver import Receiver, Reply, Request

Start = Callable[..., BridgeProcess]

FAILURES: dict[str, Callable[[Request], Reply]] = {
    "always-503": lambda _: Reply(503),
    "hanging": lambda _: Reply(200, delay=30),  # longer than the route's timeout
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_an_isolated_failing_route_does_not_hold_back_a_healthy_one(
    failure: str, bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    window, partitions = 10, 2
    events = 20 * window
    topic, group = create_topic(bootstrap, unique("calls"), partitions), unique("g")
    produce(bootstrap, topic, calls(events, keys=40))
    failing = Receiver(FAILURES[failure])
    try:
        # retries far longer than the test: none of the failing route's events finishes
        slow_retry = {"max_attempts": 100, "initial_backoff": 0.5, "max_backoff": 5, "jitter": 0}
        routes = [
            simple_route("healthy", topic, receiver.url),
            simple_route("failing", topic, failing.url, retry=slow_retry, isolation="group",
                         endpoint={"url": failing.url, "timeout": 1}),
        ]
        env = {"KAFKAHOOKS_WINDOW": str(window), "KAFKAHOOKS_SHUTDOWN_TIMEOUT": "1"}
        bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group, routes), env)

        receiver.wait_for(lambda reqs: delivered_ids(reqs) == set(range(events)), timeout=60)
        wait_until(lambda: committed_total(bootstrap, group, topic, partitions) == events, 15)
        taken_by_failing = {r.json()["id"] for r in failing.requests}
        assert bridge.terminate() == 0
    finally:
        failing.close()

    assert len(receiver.requests) == events
    # The failing route's group holds a full window of events that never finish.  Had
    # the routes shared one window, the healthy route could not have got past it.
    assert 0 < len(taken_by_failing) <= window
    assert all(o < 0 for o in committed(bootstrap, f"{group}.failing", topic, partitions))


def test_circuit_breaker_opens_probes_and_closes_without_burning_retries(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    # probes come at opened_at + k * probe_after; grace (< probe_after) lets requests
    # sent before the breaker opened land first, even on a loaded machine
    events, probe_after, grace = 30, 0.6, 0.3
    topic, group = create_topic(bootstrap, unique("calls"), 2), unique("g")
    produce(bootstrap, topic, calls(events, keys=events))
    down = threading.Event()
    down.set()
    receiver.behaviour = lambda _: Reply(503) if down.is_set() else Reply(200)
    route = simple_route(
        "calls", topic, receiver.url,
        retry={"max_attempts": 10, "initial_backoff": 0.05, "max_backoff": 0.2, "jitter": 0.01},
        circuit_breaker={"failures": 5, "probe_after": probe_after},
    )
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group, [route]))

    wait_until(lambda: logged(bridge.output(), "circuit open"), timeout=30)
    opened_at = logged(bridge.output(), "circuit open")[0]["ts"]

    def after_open(reqs: list[Request]) -> list[Request]:
        return [r for r in reqs if r.at > opened_at + grace]

    receiver.wait_for(lambda reqs: len(after_open(reqs)) >= 2, timeout=10)  # two failed probes
    recovered_at = time.time()
    down.clear()
    receiver.wait_for(lambda reqs: delivered_ids(reqs) == set(range(events)), timeout=30)
    wait_until(lambda: committed_total(bootstrap, group, topic, 2) == events, timeout=15)
    assert bridge.terminate() == 0

    while_open = [r for r in after_open(receiver.requests) if r.at < recovered_at]
    # probes only, one per probe_after: not 30 events' retries every 0.05-0.2 s
    assert 2 <= len(while_open) <= (recovered_at - opened_at) / probe_after + 1
    assert all(status(r) == 503 for r in while_open)
    assert len(logged(bridge.output(), "circuit open")) == 1
    assert logged(bridge.output(), "circuit closed")
    # waiting while open spent no attempts: nothing ran out of its 10 and was dead-lettered
    assert not logged(bridge.output(), "dead-lettered")
