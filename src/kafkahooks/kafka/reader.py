"""Read a whole topic (or its tail since a time) for an operator command, without a group join.

``kafkahooks deliveries`` and ``dlq list``/``show`` used to ``subscribe()``: on the test
broker the group join alone takes about half of ``session.timeout.ms`` (≈ 21 s at the
client default), and a read that timed out during it printed "0 attempts".  Here the
consumer is ``assign()``-ed to every partition at once, from ``offsets_for_times`` (a
``since`` time) or the beginning, under a throwaway group id that never commits
(confluent-kafka refuses a consumer without ``group.id``, even with ``assign()``).

Invariant: a read either reached the end of every partition (``ReadResult.complete``)
or says which partitions it could not finish and why; a timeout is never an empty
result.  The end of a partition is librdkafka's partition EOF, not a watermark compared
by hand (the test broker reports a wrong end offset after a multi-record batch).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

__all__ = ["ReadResult", "TopicMissingError", "TopicReadError", "read_topic"]

T = TypeVar("T")


class TopicReadError(Exception):
    """The topic could not be read at all (no metadata: the broker is unreachable, or
    the topic does not exist).  The message names the topic, never a secret."""


class TopicMissingError(TopicReadError):
    """The broker answered: it has no such topic (nothing was ever written to it)."""


@dataclass(slots=True)
class ReadResult(Generic[T]):
    """What was read, and the partitions that did not reach their end before the deadline."""

    records: list[T] = field(default_factory=list)
    unfinished: list[int] = field(default_factory=list)  # partitions not read to their end

    @property
    def complete(self) -> bool:
        return not self.unfinished


def _throwaway_group(purpose: str) -> str:
    return f"kafkahooks-{purpose}-{uuid.uuid4().hex[:8]}"  # never commits


def _partitions(consumer: Consumer, topic: str, timeout: float) -> list[int]:
    try:
        meta = consumer.list_topics(topic, timeout=max(timeout, 0.1))
    except KafkaException as exc:
        raise TopicReadError(f"cannot read metadata of topic {topic!r}: {exc.args[0]}") from None
    described = meta.topics.get(topic)
    error = described.error if described is not None else None
    if error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
        raise TopicMissingError(f"topic {topic!r} does not exist")
    if described is None or described.error is not None or not described.partitions:
        why = described.error if described is not None and described.error else "no partitions"
        raise TopicReadError(f"topic {topic!r} cannot be read: {why}")
    return sorted(described.partitions)


def _starts(
    consumer: Consumer, topic: str, parts: list[int], since: float | None, timeout: float
) -> list[TopicPartition]:
    """Where to start per partition: the first offset at or after ``since``, else the
    beginning.  A partition with nothing since then starts at its end (nothing to read)."""
    if since is None:
        return [TopicPartition(topic, p, -2) for p in parts]  # OFFSET_BEGINNING
    wanted = [TopicPartition(topic, p, int(since * 1000)) for p in parts]
    try:
        found = consumer.offsets_for_times(wanted, timeout=max(timeout, 0.1))
    except KafkaException as exc:
        raise TopicReadError(f"cannot look up offsets of {topic!r}: {exc.args[0]}") from None
    return [
        TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else -1) for tp in found
    ]


def read_topic(
    conf: dict[str, Any],
    topic: str,
    decode: Callable[[Message], T | None],
    *,
    timeout: float,
    since: float | None = None,
    purpose: str = "read",
) -> ReadResult[T]:
    """Every record of ``topic`` (since ``since``, unix seconds) that ``decode`` keeps.

    ``conf`` is a consumer configuration (bootstrap servers and security properties); its
    group id is replaced by a throwaway one and nothing is committed.  Raises
    :class:`TopicReadError` when the topic's metadata cannot be read within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    consumer = Consumer(
        {
            **conf,
            "group.id": _throwaway_group(purpose),
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        parts = _partitions(consumer, topic, deadline - time.monotonic())
        starts = _starts(consumer, topic, parts, since, deadline - time.monotonic())
        consumer.assign(starts)
        return _drain(consumer, decode, set(parts), deadline)
    finally:
        consumer.close()


def _drain(
    consumer: Consumer, decode: Callable[[Message], T | None], parts: set[int], deadline: float
) -> ReadResult[T]:
    result: ReadResult[T] = ReadResult()
    ended: set[int] = set()
    while ended < parts and (left := deadline - time.monotonic()) > 0:
        for message in consumer.consume(500, min(left, 0.2)):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    ended.add(int(message.partition() or 0))
                continue
            kept = decode(message)
            if kept is not None:
                result.records.append(kept)
    result.unfinished = sorted(parts - ended)
    return result
