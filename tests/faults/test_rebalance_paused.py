"""A rebalance while paused: two bridges, the receiver down, a small window, and a topic
that appears while both members are paused.

The member that gets the new topic's partition never held it, so a ``pause()`` issued
before librdkafka applied the assignment would be ignored and the member would take a
record per poll without limit (3,040 outstanding in 8 s with WINDOW=40 before the fix).
It must assign, then pause, and give back any record it may not hold: the window
gauge of both members stays at or under WINDOW.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kafkahooks.demo.broker import free_port
from tests.faults.fleet import Start, calls, check_alive, metrics_env, replica_env
from tests.support.bridge import routes_file, simple_route, wait_until
from tests.support.kafka import create_topic, produce, unique
from tests.support.logs import logged
from tests.support.metrics import sample
from tests.support.receiver import Receiver, Reply, Request

WINDOW = 40
WATCH = 8.0  # seconds the members are watched once the new topic is assigned


def down(_: Request) -> Reply:
    return Reply(503)


@pytest.mark.timeout(180)
def test_a_paused_member_given_a_new_topic_stays_within_its_window(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    first_topic = create_topic(bootstrap, unique("calls"), partitions=2)
    new_topic, group = unique("calls-new"), unique("g")
    receiver.behaviour = down
    retry = {"max_attempts": 100, "initial_backoff": 0.5, "max_backoff": 1, "jitter": 0}
    route = simple_route("calls", first_topic, receiver.url, retry=retry, ordering="none")
    route["topics"] = [first_topic, new_topic]
    properties = {"topic.metadata.refresh.interval.ms": 1000}
    config = routes_file(tmp_path / "r.yaml", bootstrap, group, [route], properties)
    produce(bootstrap, first_topic, calls(0, 1_000, keys=50))
    ports = [free_port(), free_port()]
    env = replica_env(WINDOW, commit_every=20)
    bridges = [start_bridge(config, {**env, **metrics_env(port)}) for port in ports]

    def window(i: int) -> float:
        return sample(ports[i], "kafkahooks_window_events", group=group) or 0.0

    def paused(i: int) -> float:
        return sample(ports[i], "kafkahooks_paused_partitions", group=group) or 0.0

    # both members own a partition of the first topic, fill their windows, and pause
    wait_until(lambda: all(paused(i) > 0 for i in range(2)), timeout=60, interval=0.2)
    before = [window(i) for i in range(2)]
    started = time.monotonic()
    create_topic(bootstrap, new_topic, partitions=1)
    produce(bootstrap, new_topic, calls(1_000, 3_000, keys=50))

    def holder() -> int | None:
        for i, bridge in enumerate(bridges):
            for record in logged(bridge.output(), "partitions assigned"):
                if f"{new_topic}/0" in record["partitions"]:
                    return i
        return None

    wait_until(lambda: holder() is not None, timeout=60, interval=0.2)
    assigned_after = time.monotonic() - started
    peak = [0.0, 0.0]
    deadline = time.monotonic() + WATCH
    while time.monotonic() < deadline:
        check_alive(bridges)
        for i in range(2):
            peak[i] = max(peak[i], window(i))
        time.sleep(0.2)
    member = holder()
    assert member is not None
    print(
        f"\nrebalance while paused: WINDOW={WINDOW} new topic assigned to member {member} "
        f"after {assigned_after:.1f}s; outstanding before={before} "
        f"peak over {WATCH:.0f}s={peak} (bound {WINDOW})"
    )
    assert max(peak) <= WINDOW
    for bridge in bridges:
        assert bridge.terminate() == 0
