"""``kafkahooks dlq replay``: dead letters sent again through the current config."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from kafkahooks.deadletter import DeadLetter
from kafkahooks.event import Event
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, headers_of, produce, read_topic, unique
from tests.support.receiver import Receiver, Reply, Request, verify_hex_signature

Start = Callable[..., BridgeProcess]
OLD_SECRET = "secret-before-rotation"
NEW_SECRET = "secret-after-rotation"


def replay(config: Path, route: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKAHOOKS_ALLOW_LOCAL_TARGETS": "true",
           "KAFKAHOOKS_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "kafkahooks.cli", "dlq", "replay", "--config", str(config),
         "--route", route, *extra],
        env=env, capture_output=True, text=True, timeout=60,
    )


def _events(ids: range) -> list[tuple[str | None, object]]:
    return [(f"call-{i}", {"event": "status-changed", "id": i, "status": "ended"}) for i in ids]


def test_replay_resends_with_the_current_secret_and_the_original_event_ids(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    dlq = create_topic(bootstrap, f"{topic}.dlq")  # one partition: offsets are easy to name
    produce(bootstrap, topic, _events(range(3)))
    receiver.behaviour = lambda _: Reply(400)  # the endpoint refuses everything at first
    old = routes_file(tmp_path / "old.yaml", bootstrap, group,
                      [simple_route("calls", topic, receiver.url, OLD_SECRET)])
    bridge = start_bridge(old)
    read_topic(bootstrap, dlq, 3)
    wait_until(lambda: committed(bootstrap, group, topic) == [3], timeout=15)
    assert bridge.terminate() == 0
    first_ids = {r.json()["id"]: r.headers["webhook-id"] for r in receiver.requests}

    # the secret was rotated and the endpoint fixed, except for event 2
    def fixed(request: Request) -> Reply:
        return Reply(400 if request.json()["id"] == 2 else 200)

    receiver.requests.clear()
    receiver.behaviour = fixed
    new = routes_file(tmp_path / "new.yaml", bootstrap, group,
                      [simple_route("calls", topic, receiver.url, NEW_SECRET)])
    done = replay(new, "calls")

    assert done.returncode == 1, done.stdout + done.stderr  # one failed again
    assert "delivered 2, failed again 1" in done.stdout
    assert sorted(r.json()["id"] for r in receiver.requests) == [0, 1, 2]
    for request in receiver.requests:
        assert verify_hex_signature(request, NEW_SECRET)
        assert request.headers["webhook-id"] == first_ids[request.json()["id"]]
    assert committed(bootstrap, "kafkahooks-replay-calls", dlq) == [3]
    again = [m for m in read_topic(bootstrap, dlq, 4) if m.offset() == 3]
    assert len(again) == 1
    h = headers_of(again[0])
    assert h["kafkahooks.event_id"] == first_ids[2]
    assert h["kafkahooks.source.offset"] == "2"  # still the source event's coordinates
    assert h["kafkahooks.attempts"] == "2"  # one by the bridge, one by the replay
    assert NEW_SECRET not in done.stdout + done.stderr + str(h)

    # the next replay continues where the group left off: only the new dead letter
    receiver.behaviour = lambda _: Reply(200)
    receiver.requests.clear()
    done = replay(new, "calls")
    assert done.returncode == 0, done.stderr
    assert "delivered 1, failed again 0" in done.stdout
    assert [r.headers["webhook-id"] for r in receiver.requests] == [first_ids[2]]


def _dead_letter(topic: str, route: str, offset: int, attempts: int = 1) -> DeadLetter:
    """A dead-letter record as the bridge writes it."""
    event = Event(topic, 0, offset, 1_700_000_000_000 + offset, f"call-{offset}".encode(),
                  f'{{"event": "status-changed", "id": {offset}, "status": "ended"}}'.encode(),
                  [("trace", b"t-1")])
    return DeadLetter(topic=f"{topic}.dlq", event=event, error_class="PermanentDeliveryError",
                      error_message="HTTP 400", route=route, status=400, attempts=attempts,
                      event_id=f"evt_original_{offset}")


def test_dry_run_sends_nothing_and_from_and_limit_pick_the_records(
    bootstrap: str, receiver: Receiver, tmp_path: Path
) -> None:
    topic = unique("calls")
    dlq = create_topic(bootstrap, f"{topic}.dlq")
    records = [_dead_letter(topic, "calls", 0), _dead_letter(topic, "other", 1),
               _dead_letter(topic, "calls", 2), _dead_letter(topic, "calls", 3)]
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    for record in records:
        producer.produce(dlq, value=record.value, key=record.event.key, headers=record.headers())
    assert producer.flush(10) == 0
    config = routes_file(tmp_path / "r.yaml", bootstrap, unique("g"),
                         [simple_route("calls", topic, receiver.url, NEW_SECRET)])

    dry = replay(config, "calls", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("would send") == 3  # not the other route's record
    assert "evt_original_0" in dry.stdout and "other routes 1" in dry.stdout
    assert receiver.requests == []
    assert committed(bootstrap, "kafkahooks-replay-calls", dlq) == [-1001]

    picked = replay(config, "calls", "--from", "2", "--limit", "1")
    assert picked.returncode == 0, picked.stderr
    assert "delivered 1," in picked.stdout
    (request,) = receiver.requests
    assert request.json()["id"] == 2
    assert request.headers["webhook-id"] == "evt_original_2"
    assert verify_hex_signature(request, NEW_SECRET)
    assert committed(bootstrap, "kafkahooks-replay-calls", dlq) == [3]
