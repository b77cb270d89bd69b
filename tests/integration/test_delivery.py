"""End to end through the real broker to a real receiver on loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, headers_of, produce, read_topic, unique
from tests.support.receiver import Receiver, Reply, Request, verify_hex_signature

SECRET = "s3cr3t-for-tests"


def _events(n: int, prefix: str = "call") -> list[tuple[str | None, object]]:
    return [(f"{prefix}-{i % 7}", {"event": "status-changed", "id": i, "status": "ringing"})
            for i in range(n)]


def test_events_are_delivered_signed_and_committed(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Callable[..., BridgeProcess]
) -> None:
    topic, group = create_topic(bootstrap, unique("calls"), 3), unique("g")
    produce(bootstrap, topic, _events(60))
    config = routes_file(tmp_path / "r.yaml", bootstrap, group,
                         [simple_route("calls", topic, receiver.url, SECRET)])
    bridge = start_bridge(config)

    receiver.wait_count(60)
    assert bridge.terminate() == 0
    assert all(verify_hex_signature(r, SECRET) for r in receiver.requests)
    ids = {r.json()["id"] for r in receiver.requests}
    assert ids == set(range(60))
    first = receiver.requests[0]
    assert first.headers["content-type"] == "application/json"
    assert first.headers["webhook-id"].startswith("evt_")
    assert first.json()["eventId"] == first.headers["webhook-id"]
    # compact JSON, exactly as JSON.stringify would re-serialise it
    assert b": " not in first.body and b", " not in first.body
    offsets = committed(bootstrap, group, topic, 3)
    assert sum(offsets) == 60


def test_5xx_twice_then_success_is_delivered_once_with_the_same_event_id(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Callable[..., BridgeProcess]
) -> None:
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    calls = {"n": 0}

    def flaky(_: Request) -> Reply:
        calls["n"] += 1
        return Reply(503) if calls["n"] <= 2 else Reply(200)

    receiver.behaviour = flaky
    produce(bootstrap, topic, [("k", {"event": "status-changed", "id": 1, "status": "queued"})])
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group,
                                      [simple_route("calls", topic, receiver.url, SECRET)]))
    receiver.wait_count(3)
    wait_until(lambda: committed(bootstrap, group, topic) == [1], timeout=15)
    assert bridge.terminate() == 0
    statuses = [getattr(r, "status", None) for r in receiver.requests]
    assert statuses == [503, 503, 200]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert all(verify_hex_signature(r, SECRET) for r in receiver.requests)


def test_permanent_400_is_dead_lettered_with_context_headers(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Callable[..., BridgeProcess]
) -> None:
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    receiver.behaviour = lambda _: Reply(400, body=b'{"error":"bad"}')
    produce(bootstrap, topic, [("call-9", {"event": "status-changed", "id": 9, "status": "x"})],
            headers=[("trace", b"abc")])
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group,
                                      [simple_route("calls", topic, receiver.url, SECRET)]))
    dead = read_topic(bootstrap, f"{topic}.dlq", 1, timeout=30)
    assert len(receiver.requests) == 1  # a 400 is not retried
    wait_until(lambda: committed(bootstrap, group, topic) == [1], timeout=15)
    assert bridge.terminate() == 0

    assert len(dead) == 1
    record = dead[0]
    assert record.key() == b"call-9"
    assert b'"id": 9' in record.value()
    h = headers_of(record)
    assert h["trace"] == "abc"
    assert h["kafkahooks.source.topic"] == topic
    assert h["kafkahooks.source.partition"] == "0"
    assert h["kafkahooks.source.offset"] == "0"
    assert h["kafkahooks.route"] == "calls"
    assert h["kafkahooks.event_id"] == receiver.requests[0].headers["webhook-id"]
    assert h["kafkahooks.error.class"] == "PermanentDeliveryError"
    assert "400" in h["kafkahooks.error.message"]
    assert h["kafkahooks.http.status"] == "400"
    assert h["kafkahooks.attempts"] == "1"
    assert int(h["kafkahooks.failed_at"]) > 0
    assert SECRET not in str(h)
