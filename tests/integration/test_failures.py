"""What happens when the endpoint, the input or the dead-letter topic fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kafkahooks.demo.broker import free_port
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, headers_of, produce, read_topic, unique
from tests.support.receiver import Receiver, Reply

Start = Callable[..., BridgeProcess]


def test_endpoint_down_until_attempts_are_exhausted_goes_to_dead_letter(
    bootstrap: str, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    down = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens here
    produce(bootstrap, topic, [("k1", {"event": "e", "id": 1, "status": "queued"})])
    route = simple_route("calls", topic, down)
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group, [route]))

    dead = read_topic(bootstrap, f"{topic}.dlq", 1, timeout=30)
    wait_until(lambda: committed(bootstrap, group, topic) == [1], timeout=15)
    assert bridge.terminate() == 0
    assert len(dead) == 1
    h = headers_of(dead[0])
    assert h["kafkahooks.error.class"] == "RetryableDeliveryError"
    assert h["kafkahooks.attempts"] == "3"
    assert h["kafkahooks.http.status"] == ""
    assert "no response" in h["kafkahooks.error.message"]


def test_malformed_json_goes_to_the_topic_dead_letter_and_the_stream_goes_on(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    produce(bootstrap, topic, [
        ("a", {"event": "e", "id": 1, "status": "queued"}),
        ("b", b'{"event": "e", "id": 2,'),
        ("c", {"event": "e", "id": 3, "status": "queued"}),
    ])
    route = simple_route("calls", topic, receiver.url, dead_letter_topic="custom.route.dlq")
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group, [route]))

    receiver.wait_count(2)
    dead = read_topic(bootstrap, f"{topic}.dlq", 1, timeout=30)  # not the route's: none chosen yet
    wait_until(lambda: committed(bootstrap, group, topic) == [3], timeout=15)
    assert bridge.terminate() == 0
    assert sorted(r.json()["id"] for r in receiver.requests) == [1, 3]
    assert dead[0].value() == b'{"event": "e", "id": 2,'
    h = headers_of(dead[0])
    assert h["kafkahooks.error.class"] == "DecodeError"
    assert "not JSON" in h["kafkahooks.error.message"]
    assert h["kafkahooks.source.offset"] == "1"


def test_failed_dead_letter_write_stops_without_committing_past_the_event(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    receiver.behaviour = lambda r: Reply(400 if r.json()["id"] == 2 else 200)
    produce(bootstrap, topic, [
        ("k", {"event": "e", "id": 1, "status": "s"}),
        ("k", {"event": "e", "id": 2, "status": "s"}),
        ("k", {"event": "e", "id": 3, "status": "s"}),
    ])
    nowhere = f"127.0.0.1:{free_port()}"  # the dead-letter cluster is unreachable
    config = routes_file(
        tmp_path / "r.yaml", bootstrap, group, [simple_route("calls", topic, receiver.url)],
        dead_letter_properties={"bootstrap.servers": nowhere, "message.timeout.ms": 1500},
    )
    bridge = start_bridge(config)
    code = bridge.wait(timeout=30)

    assert code != 0
    assert "dead-letter write" in bridge.output()
    ids = [r.json()["id"] for r in receiver.requests]
    assert ids[:2] == [1, 2] and 3 not in ids  # key order: event 3 waits behind event 2
    assert committed(bootstrap, group, topic) == [1]  # never past event 2
