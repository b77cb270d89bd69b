"""Kafka helpers for tests: topics, producing, reading topics back, committed offsets."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

GROUP_TIMINGS = {"session.timeout.ms": 2000, "heartbeat.interval.ms": 500}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(bootstrap: str, name: str, partitions: int = 1) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(10)
    return name


def produce(
    bootstrap: str,
    topic: str,
    records: list[tuple[str | None, Any]],
    headers: list[tuple[str, bytes]] | None = None,
    partition: int | None = None,
) -> None:
    """Produce (key, value) pairs in order; dict/list values are JSON-encoded."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    for key, value in records:
        raw = json.dumps(value).encode() if isinstance(value, dict | list) else value
        kwargs: dict[str, Any] = {"key": key, "value": raw, "headers": headers}
        if partition is not None:
            kwargs["partition"] = partition
        producer.produce(topic, **kwargs)
    assert producer.flush(15) == 0, "produce did not complete"


def read_topic(bootstrap: str, topic: str, expect: int, timeout: float = 20) -> list[Message]:
    """Read at least ``expect`` records from the start of ``topic`` (fresh group)."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": unique("reader"),
        "auto.offset.reset": "earliest", "enable.auto.commit": False, **GROUP_TIMINGS,
        # the topic may not exist yet: notice it when it does
        "topic.metadata.refresh.interval.ms": 500,
    })
    consumer.subscribe([topic])
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expect and time.monotonic() < deadline:
            for message in consumer.consume(100, 0.2):
                if message.error() is None:
                    out.append(message)
    finally:
        consumer.close()
    return out


def committed(bootstrap: str, group: str, topic: str, partitions: int = 1) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, **GROUP_TIMINGS})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return [tp.offset for tp in tps]
    finally:
        consumer.close()


def headers_of(message: Message) -> dict[str, str]:
    return {k: (v or b"").decode() for k, v in (message.headers() or [])}
