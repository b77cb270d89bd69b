"""``kafkahooks dlq replay``: dead letters sent again through the current config."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from kafkahooks.engine.deadletter import DeadLetter
from kafkahooks.event import Event
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, headers_of, produce, read_topic, unique
from tests.support.receiver import (
    Receiver,
    Reply,
    Request,
    verify_hex_signature,
    with_latency,
)

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


def start_replay(config: Path, route: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "KAFKAHOOKS_ALLOW_LOCAL_TARGETS": "true",
           "KAFKAHOOKS_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [sys.executable, "-m", "kafkahooks.cli", "dlq", "replay", "--config", str(config),
         "--route", route, *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _fill_dead_letters(bootstrap: str, topic: str, n: int, keys: int) -> str:
    """``n`` dead letters of route ``calls`` on ``<topic>.dlq`` (one partition), keyed
    ``call-<i % keys>``, the bridge's way."""
    from confluent_kafka import Producer

    dlq = create_topic(bootstrap, f"{topic}.dlq")
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(n):
        event = Event(topic, 0, i, 1_700_000_000_000 + i, f"call-{i % keys}".encode(),
                      f'{{"event": "status-changed", "id": {i}, "status": "ended"}}'.encode())
        record = DeadLetter(topic=dlq, event=event, error_class="PermanentDeliveryError",
                            error_message="HTTP 400", route="calls", status=400, attempts=1)
        producer.produce(dlq, value=record.value, key=event.key, headers=record.headers())
    assert producer.flush(15) == 0
    return dlq


class CommitWatch:
    """Samples a group's committed offset of one partition in the background."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self.seen: list[int] = []
        self._stop = threading.Event()
        self._args = (bootstrap, group, topic)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen.append(committed(*self._args)[0])
            self._stop.wait(0.1)

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(15)
        return self.seen


def test_a_second_replay_fences_the_first_and_commits_never_move_back(
    bootstrap: str, receiver: Receiver, tmp_path: Path
) -> None:
    events = 320
    topic = unique("calls")
    dlq = _fill_dead_letters(bootstrap, topic, events, keys=8)
    receiver.behaviour = lambda _: Reply(200, delay=0.25)  # 8 keys at a time: ~10 s alone
    config = routes_file(tmp_path / "r.yaml", bootstrap, unique("g"),
                         [simple_route("calls", topic, receiver.url, NEW_SECRET)])
    group = "kafkahooks-replay-calls"
    watch = CommitWatch(bootstrap, group, dlq)
    first = start_replay(config, "calls")
    wait_until(lambda: (watch.seen or [-1])[-1] > 0, timeout=30)  # the first has committed
    second = start_replay(config, "calls")
    first_out, first_err = first.communicate(timeout=60)
    second_out, second_err = second.communicate(timeout=90)
    wait_until(lambda: watch.seen[-1] == events, timeout=10)
    seen = watch.stop()

    ids = [r.json()["id"] for r in receiver.requests]
    print(f"\ntwo replays of one route: events={events} requests={len(ids)} "
          f"resent_twice={len(ids) - len(set(ids))} first_exit={first.returncode} "
          f"second_exit={second.returncode} commit_samples={len(seen)}")
    assert first.returncode == 1, first_out + first_err
    assert "fenced: another replay of route 'calls' started" in first_err
    assert "transactional.id kafkahooks-replay-calls" in first_err
    assert second.returncode == 0, second_out + second_err
    assert set(ids) == set(range(events))  # nothing lost
    assert len(ids) < 2 * events  # not both resent everything
    assert all(a <= b for a, b in itertools.pairwise(seen)), "a commit moved backwards"
    assert seen[-1] == events


def test_replay_keeps_the_routes_key_order(
    bootstrap: str, receiver: Receiver, tmp_path: Path
) -> None:
    events, keys = 120, 4
    topic = unique("calls")
    _fill_dead_letters(bootstrap, topic, events, keys=keys)
    receiver.behaviour = with_latency(lambda _: Reply(200), max_delay=0.03, seed=7)
    config = routes_file(tmp_path / "r.yaml", bootstrap, unique("g"),
                         [simple_route("calls", topic, receiver.url, NEW_SECRET)])
    done = replay(config, "calls")
    assert done.returncode == 0, done.stdout + done.stderr

    by_key: dict[str, list[int]] = {}
    for request in receiver.requests:
        body = request.json()
        by_key.setdefault(body["key"], []).append(body["id"])
    assert sorted(i for ids in by_key.values() for i in ids) == list(range(events))
    out_of_order = sum(a > b for ids in by_key.values() for a, b in itertools.pairwise(ids))
    assert out_of_order == 0, f"{out_of_order} events of one key overtook an earlier one"
