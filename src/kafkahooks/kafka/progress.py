"""Finished offsets above the committed position, persisted in a compacted progress topic.

Job: for partitions read by routes with ``endpoints:`` the window bounds unfinished
events only (``kafka/offsets.py``), so events finished behind an unfinished one pile up
above the committed position.  Each commit that has such offsets writes them first, so a
new owner of the partition (after a crash or a rebalance) skips them instead of
delivering them a second time.  The test broker drops commit metadata (Parallel
Consumer's place for them), so they go to a topic of their own, which works on Apache
Kafka too.

Record: key ``<group>/<topic>/<partition>`` (a topic name holds no ``/``, so the key is
cut from the right); value :func:`encode_progress` of a :class:`Progress`, or a
tombstone once nothing is held above the position any more.  A healthy bridge holds
nothing above its position and writes nothing.

Invariants:

- Every offset named in a record was finished (delivered, filtered, dead-lettered or
  parked with the broker's acknowledgement) by the member that wrote it: skipping it is
  right whoever reads it, as long as the partition is the same one.  A partition whose
  topic was recreated, or whose group offsets were reset below what the record knew to
  be committed (its ``floor``), starts below the floor: the record is ignored then
  (``OffsetTracker.skip``).
- A write returns only once the broker acknowledged it; the commit it goes with is sent
  after it (``kafka/commits.py``).  A write that fails is logged and counted, and the
  commit still goes: at-least-once never depends on this topic, only the duplicate bound.
- A new owner reads the topic up to a marker of its own before it takes any record of a
  partition it was given (``StoreLog.sync``: never "until the end offset", which the test
  broker gets wrong).

Encoding, measured against the worst case (every other offset finished: 25,000 ranges in
a 50,000-offset hold): unsigned LEB128 varints, deltas from the previous range, ≈ 2 bytes
per range there (50 KB, inside the default 1 MB record limit) where JSON took ≈ 16 bytes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kafkahooks.kafka.storelog import StoreLog, StoreWriteError, ensure_store_topic
from kafkahooks.telemetry import METRICS

__all__ = [
    "PROGRESS_TOPIC",
    "Progress",
    "ProgressLog",
    "decode_progress",
    "encode_progress",
    "progress_key",
]

log = logging.getLogger("kafkahooks.progress")

PROGRESS_TOPIC = "kafkahooks.progress"
_VERSION = 1
_TOPIC_TIMEOUT = 30.0
_WRITE_TIMEOUT = 10.0
_SYNC_TIMEOUT = 10.0  # inside a rebalance callback: the group waits for it
_READER_QUEUE = {"queued.max.messages.kbytes": 1024, "queued.min.messages": 1000}

TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Progress:
    """One partition's finished offsets above its position.

    ``floor``: the highest position the writer knew to be committed (0: unknown); a reader
    that starts below it ignores the record.  ``position``: the position committed with
    this record (or, when none is yet, the oldest unfinished offset).  ``ranges``: the
    finished offsets above it as half-open ``[start, end)`` ranges, rising, not touching."""

    floor: int
    position: int
    ranges: tuple[tuple[int, int], ...]

    @property
    def count(self) -> int:
        return sum(end - start for start, end in self.ranges)


def progress_key(group: str, tp: TopicPartitionKey) -> str:
    return f"{group}/{tp[0]}/{tp[1]}"


def _varint(out: bytearray, n: int) -> None:
    if n < 0:
        raise ValueError(f"progress values are never negative ({n})")
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def encode_progress(progress: Progress) -> bytes:
    """Version byte, then varints: floor, position, range count, then per range its gap
    from the previous end (the position, first) and its length."""
    out = bytearray([_VERSION])
    for n in (progress.floor, progress.position, len(progress.ranges)):
        _varint(out, n)
    previous = progress.position
    for start, end in progress.ranges:
        if start < previous or end <= start:
            raise ValueError(f"progress ranges must rise above the position: {start}..{end}")
        _varint(out, start - previous)
        _varint(out, end - start)
        previous = end
    return bytes(out)


def decode_progress(data: bytes) -> Progress:
    """The inverse of :func:`encode_progress`; ``ValueError`` for anything else."""
    if not data or data[0] != _VERSION:
        raise ValueError("not a progress record of version 1")
    values: list[int] = []
    n = shift = 0
    for byte in data[1:]:
        n |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        values.append(n)
        n = shift = 0
    if shift or len(values) < 3 or len(values) != 3 + 2 * values[2]:
        raise ValueError("a truncated progress record")
    floor, position, count = values[:3]
    ranges = []
    previous = position
    for i in range(count):
        gap, length = values[3 + 2 * i], values[4 + 2 * i]
        if length == 0:
            raise ValueError("an empty progress range")
        start = previous + gap
        ranges.append((start, start + length))
        previous = start + length
    return Progress(floor, position, tuple(ranges))


class ProgressLog:
    """The progress topic of one process, shared by its group members.

    Not followed: a member reads it up to now when it is given partitions
    (:meth:`load`, on its Kafka thread), which is the only moment the records matter.
    Records are kept here as bytes by key (tombstones remove them), decoded on demand.
    """

    def __init__(self, properties: dict[str, Any], topic: str = PROGRESS_TOPIC) -> None:
        self.topic = topic
        self._properties = properties
        self._entries: dict[str, bytes] = {}
        self._lock = threading.Lock()  # load() may run on two members' threads at once
        self._log: StoreLog | None = None

    def open(self, timeout: float = _TOPIC_TIMEOUT) -> None:
        """Create the topic if it is missing (1 partition, compacted) and read it to now."""
        ensure_store_topic(self._properties, self.topic, timeout)
        # read only at assignments: between them librdkafka would prefetch every record
        # written meanwhile (up to 64 MB by default) into a queue nobody polls
        props = {**self._properties, **_READER_QUEUE}
        self._log = StoreLog(props, self.topic, self._apply, name="progress")
        self._log.load(timeout)

    def _apply(self, key: str, value: bytes | None, _offset: int) -> object:
        if value is None:
            self._entries.pop(key, None)
        else:
            self._entries[key] = value
        return None

    def load(
        self, group: str, tps: Iterable[TopicPartitionKey]
    ) -> dict[TopicPartitionKey, Progress]:
        """The records of these partitions, read up to now (a marker of our own): what
        their previous owner finished above its position.  Raises ``StoreError`` when the
        topic cannot be read in time; an undecodable record is logged and ignored."""
        assert self._log is not None, "ProgressLog.open() first"
        with self._lock:
            self._log.sync(_SYNC_TIMEOUT)
            out = {}
            for tp in tps:
                raw = self._entries.get(progress_key(group, tp))
                if raw is None:
                    continue
                try:
                    out[tp] = decode_progress(raw)
                except ValueError as exc:
                    log.error(
                        "progress record ignored",
                        extra={"group": group, "partition": f"{tp[0]}/{tp[1]}", "error": str(exc)},
                    )
            return out

    def write(self, group: str, entries: dict[TopicPartitionKey, Progress | None]) -> None:
        """Write these records (``None``: a tombstone) and wait for the acknowledgement.
        Raises :class:`StoreWriteError` naming the first write refused."""
        assert self._log is not None, "ProgressLog.open() first"
        records = [
            (progress_key(group, tp), None if p is None else encode_progress(p))
            for tp, p in entries.items()
        ]
        results = self._log.write_many(records, _WRITE_TIMEOUT)
        for result in results:
            if isinstance(result, StoreWriteError):
                raise result
        METRICS.progress_writes.labels(group).inc(len(records))

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
