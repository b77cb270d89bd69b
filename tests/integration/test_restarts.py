"""Stopping the bridge mid-stream: nothing lost; SIGTERM redelivers nothing;
SIGKILL redelivers no more than the stated bound."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.support.bridge import BridgeProcess, routes_file, simple_route
from tests.support.kafka import committed, create_topic, produce, unique
from tests.support.receiver import Receiver, Reply, Request

Start = Callable[..., BridgeProcess]
EVENTS = 400
PARTITIONS = 2
WINDOW = 100
COMMIT_EVERY = 50


def _slow(_: Request) -> Reply:
    # 10 in flight / 0.05 s = at most 200 events/s, so one commit spacing (0.2 s in tests)
    # finishes at most 40 < COMMIT_EVERY: the bound below is then WINDOW + COMMIT_EVERY
    return Reply(200, delay=0.05)


def _setup(bootstrap: str, receiver: Receiver, tmp_path: Path) -> tuple[str, str, Path]:
    topic, group = create_topic(bootstrap, unique("calls"), PARTITIONS), unique("g")
    produce(bootstrap, topic, [(f"call-{i % 20}", {"event": "e", "id": i, "status": "s"})
                               for i in range(EVENTS)])
    receiver.behaviour = _slow
    config = routes_file(tmp_path / "r.yaml", bootstrap, group,
                         [simple_route("calls", topic, receiver.url)])
    return topic, group, config


ENV = {"KAFKAHOOKS_WINDOW": str(WINDOW), "KAFKAHOOKS_COMMIT_EVERY": str(COMMIT_EVERY),
       "KAFKAHOOKS_MAX_IN_FLIGHT": "10"}


def test_sigterm_mid_stream_loses_nothing_and_redelivers_nothing(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group, config = _setup(bootstrap, receiver, tmp_path)
    first = start_bridge(config, ENV)
    receiver.wait_count(60)
    assert first.terminate() == 0
    stopped_at = len(receiver.requests)
    assert stopped_at < EVENTS, "stop came too late to test anything"

    second = start_bridge(config, ENV)
    receiver.wait_for(lambda reqs: len({r.json()["id"] for r in reqs}) == EVENTS, timeout=60)
    assert second.terminate() == 0
    counts = Counter(r.json()["id"] for r in receiver.requests)
    assert set(counts) == set(range(EVENTS))  # lost = 0
    assert max(counts.values()) == 1  # duplicates = 0
    assert sum(committed(bootstrap, group, topic, PARTITIONS)) == EVENTS


def test_sigkill_mid_stream_loses_nothing_and_duplicates_stay_within_the_bound(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group, config = _setup(bootstrap, receiver, tmp_path)
    first = start_bridge(config, ENV)
    receiver.wait_count(150)
    first.kill()

    second = start_bridge(config, ENV)
    receiver.wait_for(lambda reqs: len({r.json()["id"] for r in reqs}) == EVENTS, timeout=60)
    assert second.terminate() == 0
    counts = Counter(r.json()["id"] for r in receiver.requests)
    duplicates = sum(counts.values()) - len(counts)
    bound = WINDOW + COMMIT_EVERY  # README: window + events finished since the last commit
    print(f"SIGKILL: lost=0 duplicates={duplicates} bound={bound}")
    assert set(counts) == set(range(EVENTS))
    assert duplicates <= bound
    assert sum(committed(bootstrap, group, topic, PARTITIONS)) == EVENTS
