"""The benchmark's events: call-status JSON values, produced to the embedded broker.

Every value carries ``callId`` (also the Kafka key) and ``seq`` (its position
among the events of that call), so a receiver that sees only the delivered
bodies can check per-call order and look up the record timestamp.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 4


def samples() -> list[dict[str, Any]]:
    folder = ROOT / "schemas" / "call-status"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def call_event(base: list[dict[str, Any]], call_id: str, seq: int) -> dict[str, Any]:
    event = copy.deepcopy(base[seq % len(base)])
    event["callId"] = call_id
    event["seq"] = seq
    event["data"]["phoneNumber"] = f"+61 2 9000 {seq % 10000:04d}"
    return event


def events(count: int, keys: int, prefix: str = "call") -> Iterator[tuple[str, bytes]]:
    """``count`` events over ``keys`` calls, call-major within each step, so every
    partition interleaves many calls (as live traffic does)."""
    base = samples()
    for i in range(count):
        call_id = f"{prefix}-{i % keys:06d}"
        yield call_id, json.dumps(call_event(base, call_id, i // keys)).encode()


def small_events(count: int, keys: int) -> Iterator[tuple[str, bytes]]:
    """Tiny values for the outage run (a million of them)."""
    for i in range(count):
        call_id = f"call-{i % keys:06d}"
        value = {"event": "status-changed", "callId": call_id, "seq": i // keys}
        yield call_id, json.dumps(value, separators=(",", ":")).encode()


def create_topics(bootstrap: str, names: list[str], partitions: int = PARTITIONS) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    for future in futures.values():
        future.result(15)


@dataclass
class Produced:
    """Record timestamps by (callId, seq), filled from delivery reports."""

    timestamps: dict[tuple[str, int], int] = field(default_factory=dict)
    errors: int = 0

    def report(self, call_id: str, seq: int, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.errors += 1
            return
        self.timestamps[(call_id, seq)] = msg.timestamp()[1]


def producer(bootstrap: str, linger_ms: int = 20) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": linger_ms,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 500_000,
            "compression.type": "none",
        }
    )


def produce_all(
    bootstrap: str, topic: str, items: Iterator[tuple[str, bytes]], out: Produced | None = None
) -> int:
    """Produce as fast as the broker takes them; returns the count acknowledged."""
    prod = producer(bootstrap)
    sent = 0
    for call_id, value in items:
        callback = partial(out.report, call_id, _seq(value)) if out is not None else None
        _produce(prod, topic, call_id, value, callback)
        sent += 1
    if prod.flush(120) != 0:
        raise RuntimeError("producer did not flush within 120 s")
    return sent


def produce_paced(
    bootstrap: str, topic: str, items: list[tuple[str, bytes]], rate: float, out: Produced
) -> None:
    """Produce at a steady ``rate`` events/s (latency phase: no backlog)."""
    # No linger: the record timestamp is taken at produce(), so lingering would
    # count the producer's own batching delay as bridge latency.
    prod = producer(bootstrap, linger_ms=0)
    start = time.monotonic()
    for i, (call_id, value) in enumerate(items):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            prod.poll(0)
            time.sleep(delay)
        _produce(prod, topic, call_id, value, partial(out.report, call_id, _seq(value)))
    prod.flush(30)


def _seq(value: bytes) -> int:
    seq: int = json.loads(value)["seq"]
    return seq


def _produce(prod: Producer, topic: str, key: str, value: bytes, callback: Any) -> None:
    while True:
        try:
            prod.produce(topic, key=key, value=value, on_delivery=callback)
            prod.poll(0)
            return
        except BufferError:
            prod.poll(0.05)


class CommittedWatcher:
    """Reads a group's committed offsets (it never joins the group)."""

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
        )
        self.partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]

    def committed(self) -> dict[tuple[str, int], int]:
        out: dict[tuple[str, int], int] = {}
        for tp in self._consumer.committed(self.partitions, timeout=10):
            out[(tp.topic, tp.partition)] = max(tp.offset, 0)
        return out

    def close(self) -> None:
        self._consumer.close()


def high_watermarks(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watermarks"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(PARTITIONS)
        }
    finally:
        consumer.close()


def broker_floor(bootstrap: str, rate: float, seconds: float) -> tuple[float, float]:
    """p50/p99 ms from record timestamp to a plain consumer (default fetch settings):
    the part of every row's latency that is the test broker's, not the bridge's."""
    import statistics
    import threading
    import uuid

    topic = f"bench.floor.{uuid.uuid4().hex[:6]}"
    create_topics(bootstrap, [topic])
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": topic,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([topic])
    while not consumer.assignment():
        consumer.poll(0.1)
    count = max(10, int(rate * seconds))
    latencies: list[float] = []

    def consume() -> None:
        deadline = time.monotonic() + seconds + 30
        while len(latencies) < count and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.1):
                if msg.error() is None:
                    latencies.append(time.time() * 1000 - msg.timestamp()[1])

    thread = threading.Thread(target=consume)
    thread.start()
    items = list(events(count, min(1000, count), prefix="floor"))
    produce_paced(bootstrap, topic, items, rate, Produced())
    thread.join()
    consumer.close()
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99)]
