"""Dead letters under faults: a permanent 400 carries its whole context; a dead-letter
cluster that dies stops the bridge before any offset passes the event."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from confluent_kafka import Message

from kafkahooks.demo.broker import EmbeddedBroker
from tests.faults.fleet import Start, calls, committed_total
from tests.support.bridge import routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, headers_of, produce, read_topic, unique
from tests.support.ledger import Ledger
from tests.support.receiver import Receiver, Reply

SECRET = "fault-suite-secret"
CONTEXT = (
    "source.topic",
    "source.partition",
    "source.offset",
    "event_id",
    "route",
    "error.class",
    "error.message",
    "http.status",
    "attempts",
    "failed_at",
)


def _rejects(every: int, at: int) -> Ledger:
    """Answer 400 to ids ``at (mod every)``, 200 to the rest."""
    return Ledger(
        lambda r: (
            Reply(400, body=b'{"error":"bad"}') if r.json()["id"] % every == at else Reply(200)
        )
    )


def _ids(records: list[Message]) -> set[int]:
    return {json.loads(r.value() or b"")["id"] for r in records}


@pytest.mark.timeout(120)
def test_permanent_400_is_dead_lettered_once_with_every_context_header(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    events, partitions = 60, 3
    topic, group = create_topic(bootstrap, unique("perm"), partitions), unique("g")
    ledger = _rejects(10, 7)
    receiver.behaviour = ledger
    produce(bootstrap, topic, calls(0, events, keys=12))
    started = time.monotonic()
    bridge = start_bridge(
        routes_file(
            tmp_path / "r.yaml",
            bootstrap,
            group,
            [simple_route("calls", topic, receiver.url, SECRET)],
        )
    )
    rejected = {i for i in range(events) if i % 10 == 7}
    dead = read_topic(bootstrap, f"{topic}.dlq", len(rejected), timeout=30)
    wait_until(lambda: committed_total(bootstrap, group, topic, partitions) == events, timeout=20)
    elapsed = time.monotonic() - started
    assert bridge.terminate() == 0
    source = {
        next(iter(_ids([m]))): (m.partition(), m.offset())
        for m in read_topic(bootstrap, topic, events)
    }

    by_id = {r.json()["id"]: r for r in receiver.requests}
    tally = ledger.tally(set(range(events)) - rejected)
    print(
        f"\npermanent 400: events={events} dead_lettered={len(dead)} "
        f"expected_dead={len(rejected)} "
        f"requests_for_rejected={sum(r.json()['id'] in rejected for r in receiver.requests)} "
        f"{tally.line()} elapsed_s={elapsed:.1f}"
    )
    assert tally.lost == 0 and tally.duplicates == 0
    assert len(dead) == len(rejected) and _ids(dead) == rejected  # each once
    assert sum(r.json()["id"] in rejected for r in receiver.requests) == len(rejected)  # no retry
    for record in dead:
        h = headers_of(record)
        ident = _ids([record]).pop()
        assert all(f"kafkahooks.{name}" in h for name in CONTEXT), sorted(h)
        assert h["kafkahooks.source.topic"] == topic
        where = (int(h["kafkahooks.source.partition"]), int(h["kafkahooks.source.offset"]))
        assert where == source[ident]
        assert h["kafkahooks.event_id"] == by_id[ident].headers["webhook-id"]
        assert h["kafkahooks.route"] == "calls"
        assert h["kafkahooks.error.class"] == "PermanentDeliveryError"
        assert "400" in h["kafkahooks.error.message"]
        assert h["kafkahooks.http.status"] == "400"
        assert h["kafkahooks.attempts"] == "1"
        assert abs(int(h["kafkahooks.failed_at"]) / 1000 - time.time()) < 120
        assert SECRET not in str(h)


@pytest.mark.timeout(180)
def test_dead_letter_cluster_dies_the_bridge_stops_and_a_restart_finishes_everything(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    batch = 40
    topic, group = create_topic(bootstrap, unique("dlqdown")), unique("g")
    ledger = _rejects(10, 3)
    receiver.behaviour = ledger
    config = tmp_path / "r.yaml"
    route = simple_route("calls", topic, receiver.url)

    def configure(dead_letter_cluster: EmbeddedBroker) -> None:
        routes_file(
            config,
            bootstrap,
            group,
            [route],
            dead_letter_properties={
                "bootstrap.servers": dead_letter_cluster.bootstrap,
                "message.timeout.ms": 2000,
            },
        )

    with EmbeddedBroker() as first_dlq, EmbeddedBroker() as second_dlq:
        # 1. the dead-letter cluster works: rejected events land there, offsets move on
        configure(first_dlq)
        produce(bootstrap, topic, calls(0, batch, keys=5))
        bridge = start_bridge(config)
        dead_first = read_topic(first_dlq.bootstrap, f"{topic}.dlq", batch // 10, timeout=30)
        wait_until(lambda: committed(bootstrap, group, topic) == [batch], timeout=20)

        # 2. it dies; the next rejected event cannot be dead-lettered
        first_dlq.kill()
        produce(bootstrap, topic, calls(batch, batch, keys=5))
        stuck = batch + 3  # the first id (= offset) rejected after the kill
        began = time.monotonic()
        code = bridge.wait(timeout=60)
        stopped_after = time.monotonic() - began
        output = bridge.output()
        stuck_at = committed(bootstrap, group, topic)
        assert code != 0
        assert "kafkahooks stopped: dead-letter write" in output
        assert stuck_at[0] <= stuck  # never past the event whose dead letter was not written

        # 3. restart with a working dead-letter cluster: everything delivered or dead-lettered
        configure(second_dlq)
        restarted = start_bridge(config)
        wait_until(lambda: committed(bootstrap, group, topic) == [2 * batch], timeout=60)
        dead_second = read_topic(second_dlq.bootstrap, f"{topic}.dlq", batch // 10, timeout=30)
        assert restarted.terminate() == 0

    rejected = {i for i in range(2 * batch) if i % 10 == 3}
    dead = _ids(dead_first) | _ids(dead_second)
    tally = ledger.tally(set(range(2 * batch)) - rejected)
    print(
        f"\ndead-letter cluster down: exit_code={code} stopped_after_s={stopped_after:.1f} "
        f"committed_when_stopped={stuck_at[0]} failing_event_offset={stuck} "
        f"dead_lettered_before={len(dead_first)} after_restart={len(dead_second)} "
        f"{tally.line()} message={_stop_line(output)!r}"
    )
    assert dead == rejected
    assert tally.lost == 0


def _stop_line(output: str) -> str:
    return next((line for line in output.splitlines() if line.startswith("kafkahooks stopped")), "")
