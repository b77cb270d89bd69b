"""Batch delivery: one signed JSON array per request, finished or dead-lettered as a unit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.test_throughput import calls, committed_total, status
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import create_topic, headers_of, produce, read_topic, unique
from tests.support.receiver import (
    Receiver,
    Reply,
    Request,
    fail_first_attempt,
    verify_hex_signature,
    with_latency,
)

Start = Callable[..., BridgeProcess]
SECRET = "batch-secret"
BATCH = {"max_events": 10, "max_wait_ms": 50}


def ids_in(request: Request) -> list[int]:
    return [element["data"]["id"] for element in request.json()]


def delivered(requests: list[Request]) -> list[int]:
    return [i for r in requests if status(r) < 300 for i in ids_in(r)]


def batch_route(topic: str, url: str, **overrides: Any) -> dict[str, Any]:
    return simple_route("calls", topic, url, SECRET, batch=BATCH, **overrides)


def test_batches_are_signed_arrays_of_identified_events_in_key_order(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    events, partitions = 200, 2
    topic, group = create_topic(bootstrap, unique("calls"), partitions), unique("g")
    produce(bootstrap, topic, calls(events, keys=20))
    flaky = fail_first_attempt(lambda r: any(i % 50 == 7 for i in ids_in(r)))
    receiver.behaviour = with_latency(flaky, 0.02, seed=7)
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group,
                                      [batch_route(topic, receiver.url)]))

    receiver.wait_for(lambda reqs: sorted(delivered(reqs)) == list(range(events)), timeout=60)
    wait_until(lambda: committed_total(bootstrap, group, topic, partitions) == events, 15)
    assert bridge.terminate() == 0

    requests = list(receiver.requests)
    ok = [r for r in requests if status(r) < 300]
    for request in requests:
        body = request.json()
        assert isinstance(body, list) and 1 <= len(body) <= BATCH["max_events"]
        assert request.headers["webhook-batch-size"] == str(len(body))
        assert request.headers["webhook-id"].startswith("bat_")
        assert verify_hex_signature(request, SECRET)  # over the raw array bytes
        for element in body:
            assert element["id"].startswith("evt_")
            assert element["id"] == element["data"]["eventId"]
    assert any(len(r.json()) > 1 for r in ok), "no batch held more than one event"
    assert len({r.headers["webhook-id"] for r in ok}) == len(ok)  # one id per batch
    failed = [r for r in requests if status(r) == 503]
    assert failed, "no batch was retried"
    for first in failed:  # a retried batch keeps its id and its elements
        again = [r for r in ok if r.headers["webhook-id"] == first.headers["webhook-id"]]
        assert [r.body for r in again] == [first.body]
    per_key: dict[str, list[int]] = defaultdict(list)
    for request in ok:
        for element in request.json():
            per_key[element["data"]["key"]].append(element["data"]["id"])
    assert all(ids == sorted(ids) for ids in per_key.values())
    assert len(delivered(requests)) == events  # each event in exactly one delivered batch


def test_a_batch_answered_400_dead_letters_every_element(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    events = 30
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    produce(bootstrap, topic, calls(events, keys=3))
    receiver.behaviour = lambda r: Reply(400 if 12 in ids_in(r) else 200)
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group,
                                      [batch_route(topic, receiver.url)]))

    receiver.wait_for(lambda reqs: len(delivered(reqs) + rejected_ids(reqs)) == events, 60)
    (rejected,) = _rejected(receiver.requests)  # a 400 is not retried
    dead = read_topic(bootstrap, f"{topic}.dlq", len(rejected.json()), timeout=30)
    wait_until(lambda: committed_total(bootstrap, group, topic, 1) == events, timeout=15)
    assert bridge.terminate() == 0

    assert sorted(delivered(receiver.requests) + ids_in(rejected)) == list(range(events))
    assert len(dead) == len(rejected.json())
    assert sorted(int(headers_of(d)["kafkahooks.source.offset"]) for d in dead) == sorted(
        ids_in(rejected)  # one partition: an event's offset is its id
    )
    assert {headers_of(d)["kafkahooks.event_id"] for d in dead} == {
        e["id"] for e in rejected.json()
    }
    assert all(headers_of(d)["kafkahooks.http.status"] == "400" for d in dead)


def _rejected(requests: list[Request]) -> list[Request]:
    return [r for r in requests if status(r) == 400]


def rejected_ids(requests: list[Request]) -> list[int]:
    return [i for r in _rejected(requests) for i in ids_in(r)]
