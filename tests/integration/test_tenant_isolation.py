"""Customers' endpoints that are slow or refuse everything cost their own deliveries only
(issue 16).  The outages (503, hanging) are in ``tests/faults/test_tenant_outages.py``.

Both tests run with a small ``WINDOW``: a window counting every event behind a customer's
oldest unfinished one would fill with the other tenants' events and pause them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bridge import BridgeProcess, wait_until
from tests.support.kafka import (
    committed,
    create_topic,
    headers_of,
    produce,
    read_topic,
    unique,
)
from tests.support.logs import logged
from tests.support.receiver import Receiver, Reply
from tests.support.store import StoreWriter, tenant_config

# each test starts bridges or CLI processes for 10-30 s: `make test-slow` runs them
pytestmark = pytest.mark.slow

Start = Callable[..., BridgeProcess]

WINDOW = 50


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    servers = (Receiver(), Receiver())
    yield servers
    for server in servers:
        server.close()


def _config(
    path: Path, bootstrap: str, group: str, topic: str, store: StoreWriter, **extra: Any
) -> Path:
    route = {"retry_topics": {"delays": [1, 3]}}
    return tenant_config(path, bootstrap, group, topic, store, route=route, **extra)


def ok_ids(server: Receiver) -> list[int]:
    return sorted(r.json()["id"] for r in server.ok_requests())


def test_a_rate_limited_endpoint_gets_everything_and_holds_up_nobody(
    bootstrap: str,
    store: StoreWriter,
    receivers: tuple[Receiver, Receiver],
    tmp_path: Path,
    start_bridge: Start,
) -> None:
    slow, other = receivers
    store.create("slow", slow.url, rate_limit=5)  # the customer's own limit: 5 requests/s
    store.create("other", other.url)
    topic, group = create_topic(bootstrap, unique("calls"), partitions=2), unique("g")
    # 50 events for the slow tenant (10 s at its rate) among 200 for the other, one backlog
    accounts = (["slow"] + ["other"] * 4) * 50
    events = [
        (f"call-{i % 13}", {"event": "call.ended", "id": i, "account": account})
        for i, account in enumerate(accounts)
    ]
    produce(bootstrap, topic, events)
    env = {"KAFKAHOOKS_WINDOW": str(WINDOW), "KAFKAHOOKS_LOG_LEVEL": "DEBUG"}
    bridge = start_bridge(_config(tmp_path / "r.yaml", bootstrap, group, topic, store), env)
    ids: dict[str, list[int]] = {"slow": [], "other": []}
    for i, account in enumerate(accounts):
        ids[account].append(i)

    other.wait_for(lambda reqs: len(reqs) >= len(ids["other"]), timeout=30)
    slow_when_others_done = len(slow.ok_requests())
    slow.wait_for(lambda reqs: len(reqs) >= len(ids["slow"]), timeout=60)
    wait_until(lambda: sum(committed(bootstrap, group, topic, 2)) == len(events), timeout=20)
    output = bridge.output()
    assert bridge.terminate() == 0, output[-2000:]

    assert ok_ids(other) == ids["other"]  # nothing lost, nothing twice
    assert ok_ids(slow) == ids["slow"]
    # the other tenant did not wait for the slow one to get through its events
    assert slow_when_others_done < len(ids["slow"])
    assert logged(output, "partitions paused") == []


def test_an_endpoint_answering_400_to_everything_leaves_the_bridge_running(
    bootstrap: str,
    store: StoreWriter,
    receivers: tuple[Receiver, Receiver],
    tmp_path: Path,
    start_bridge: Start,
) -> None:
    refusing, other = receivers
    refusing.behaviour = lambda _: Reply(400, body=b'{"error":"bad request"}')
    refusing_id = store.create("refusing", refusing.url).id
    store.create("other", other.url)
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    bad = 2 * WINDOW
    events = [
        (f"call-{i % 7}", {"event": "call.ended", "id": i, "account": "refusing"})
        for i in range(bad)
    ]
    events += [
        (f"call-{i % 7}", {"event": "call.ended", "id": i, "account": "other"})
        for i in range(bad, bad + 10)
    ]
    produce(bootstrap, topic, events)
    # a limit far below 2 x WINDOW dead letters in a row: a customer's refusals must not
    # count, or the bridge would stop after 10
    limit = {"max_consecutive": 10, "max_ratio": 0.5, "window": 20}
    config = _config(tmp_path / "r.yaml", bootstrap, group, topic, store, dead_letter_limit=limit)
    bridge = start_bridge(config, {"KAFKAHOOKS_WINDOW": str(WINDOW)})

    dead = read_topic(bootstrap, f"{topic}.dlq", bad, timeout=60)
    other.wait_count(10, timeout=30)
    wait_until(lambda: committed(bootstrap, group, topic) == [len(events)], timeout=20)
    assert bridge.alive(), bridge.output()[-2000:]
    assert bridge.terminate() == 0

    assert len(dead) == bad
    assert {headers_of(m).get("kafkahooks.endpoint_id") for m in dead} == {refusing_id}
    assert sorted(r.json()["id"] for r in refusing.requests) == list(range(bad))  # once each
    assert ok_ids(other) == list(range(bad, bad + 10))
