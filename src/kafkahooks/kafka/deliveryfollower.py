"""Follow the delivery-attempt log from a time, and read one endpoint's older attempts from it.

Job: hand every :class:`~kafkahooks.kafka.AttemptRecord` of the delivery-log topic
written at or after ``start`` to an ``apply(records)`` callable, in batches, in offset
order per partition: first up to "now" (:meth:`DeliveryLogFollower.load`, the API's
start-up catch-up), then as records arrive (:meth:`DeliveryLogFollower.follow`).  And
read one endpoint's attempts since a time straight from the log
(:meth:`DeliveryLogFollower.read_endpoint`), for history older than what memory keeps.

Invariants:

- "Now" is a marker, never the end offset (the test broker reports a wrong end offset
  after a multi-record batch): ``load`` and ``sync`` write one ``marker/<uuid4>`` record
  (empty value: no reader takes it for an attempt) to every partition and read until
  each partition passed its marker.  A marker never reaches ``apply``.
- Where to start is ``offsets_for_times(start)``; a partition with nothing since then
  starts at its marker (again no end-offset query).  The test broker answers
  ``offsets_for_times`` by the time a record was appended, not its own timestamp, and a
  time after its last record with offset 0 (Apache Kafka: none): a read then starts
  earlier and takes longer, never answers wrong, since every record is filtered by its
  own ``at``.
- A log read for one endpoint stops at what the follower has applied (its positions,
  taken when the read starts), never at the end offset; and it reads one partition only
  when the endpoint's records are keyed by its id there (``kafka/deliverylog.py``) and
  the partitioner is librdkafka's default (CRC32 of the key, modulo the partitions);
  after seeing records keyed the old way (by event id: bridges before issue 17) it
  reads every partition.  A read that runs out of time says so (``complete`` False).
- No group join, no commit: ``assign()`` under a group id of its own.  ``apply`` runs on
  one thread at a time (whoever polls holds one lock).
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from kafkahooks.errors import KafkahooksError
from kafkahooks.kafka.deliverylog import AttemptRecord
from kafkahooks.kafka.kafkalog import with_logger
from kafkahooks.kafka.producer import without_consumer_only
from kafkahooks.kafka.storelog import MARKER_PREFIX

__all__ = [
    "DeliveryLogError",
    "DeliveryLogFollower",
    "EndpointRead",
    "FollowerLoad",
    "partition_for",
]

log = logging.getLogger("kafkahooks.deliverylog")

_POLL = 0.2  # seconds one poll waits: how soon close() and a deadline are noticed
_BATCH = 500  # records taken from the client per poll (consume(500) is cheap per record)
_MARKER_WRITER = {"acks": "all", "linger.ms": 0}
_READER = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    "enable.partition.eof": False,  # the end is a marker or the follower's position
}
# Defaults under the configured properties.  The client's prefetch queue is capped at
# 4 MiB a partition: librdkafka's default (64 MiB) is more than the whole index at a
# million records.  A full queue postpones the next fetch by ``fetch.queue.backoff.ms``,
# 1 s by default: 10 ms here, or a reader slightly slower than the broker waits a second
# every 4 MiB (measured on the test broker, 212,000 records of one partition read for one
# endpoint: 7.3 s with the default back-off, 2.2 s with 10 ms; a bare loop 1.2 s).  Fetches
# stay at 1 MiB a partition: one larger than the queue's cap waits for it to drain whole.
_FETCH = {
    "max.partition.fetch.bytes": 1 << 20,
    "queued.max.messages.kbytes": 4096,
    "fetch.queue.backoff.ms": 10,
}
_FOLLOWER_WAIT = {"fetch.wait.max.ms": 100}  # how late the follower sees a new record
_READ_WAIT = {"fetch.wait.max.ms": 10}
_CRC32_PARTITIONERS = {"consistent", "consistent_random"}  # librdkafka: CRC32 of the key

Apply = Callable[[list[AttemptRecord]], object]


class DeliveryLogError(KafkahooksError):
    """The delivery-log topic cannot be followed (missing, unreachable, or not read to
    its markers in time); the message names the topic and the broker."""


@dataclass(frozen=True, slots=True)
class FollowerLoad:
    """What :meth:`DeliveryLogFollower.load` read: start-up figures."""

    records: int  # attempt records read (every endpoint's, fixed endpoints' too)
    seconds: float
    partitions: int


@dataclass(slots=True)
class EndpointRead:
    """One endpoint's attempts read from the log, newest first; ``complete`` False when
    the read ran out of time before the follower's position."""

    records: list[AttemptRecord] = field(default_factory=list)
    complete: bool = True
    scanned: int = 0  # records read from the log to find them


def partition_for(key: bytes, partitions: int) -> int:
    """The partition librdkafka's default partitioner (``consistent_random``) gives a
    non-empty key."""
    return zlib.crc32(key) % partitions


class DeliveryLogFollower:
    """The delivery-log topic, followed from ``start`` (unix seconds) into ``apply``."""

    def __init__(
        self,
        properties: dict[str, Any],
        topic: str,
        apply: Apply,
        *,
        start: float,
        name: str = "attempts",
    ) -> None:
        self.topic = topic
        self.start = start
        self.name = name
        self._apply = apply
        self._properties = properties
        self._bootstrap = str(properties.get("bootstrap.servers", "?"))
        self._keyed = str(properties.get("partitioner", "consistent_random")) in (
            _CRC32_PARTITIONERS
        )
        self._producer = Producer(
            with_logger(
                {
                    **without_consumer_only(properties),
                    **_MARKER_WRITER,
                    "client.id": f"kafkahooks-{name}-marker",
                }
            )
        )
        self._consumer = self._new_consumer("follower")
        self._partitions: list[int] = []
        self._polling = threading.Lock()  # held by whoever polls the consumer (and applies)
        self._changed = threading.Condition()  # notified when positions move
        self._positions: dict[int, int] = {}  # next offset to apply, per partition
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.loaded = False
        self.records = 0  # attempt records applied
        self.legacy = 0  # endpoint records keyed by event id (bridges before issue 17)
        self.last_error: str | None = None

    # -- start-up ----------------------------------------------------------------------------

    def load(self, timeout: float) -> FollowerLoad:
        """Apply every record since ``start`` up to now on this thread.  Raises
        :class:`DeliveryLogError` when the topic is missing or not read in time."""
        if self.loaded:
            raise RuntimeError(f"delivery log follower {self.name!r} is already loaded")
        started = time.monotonic()
        deadline = started + timeout
        self._partitions = self._describe(timeout)
        markers = self._mark(deadline)
        starts = self._starts(markers, deadline)
        with self._polling:
            self._positions = dict(starts)
            self._consumer.assign([TopicPartition(self.topic, p, o) for p, o in starts.items()])
        self._read_to(markers, deadline)
        self.loaded = True
        seconds = time.monotonic() - started
        log.info(
            "delivery log loaded",
            extra={"topic": self.topic, "records": self.records, "seconds": round(seconds, 3),
                   "partitions": len(self._partitions)},
        )  # fmt: skip
        return FollowerLoad(self.records, seconds, len(self._partitions))

    def follow(self) -> None:
        """Start the one thread that applies new records (once; after :meth:`load`)."""
        if not self.loaded:
            raise RuntimeError(f"delivery log follower {self.name!r} is not loaded")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._follow, name=f"kafkahooks-{self.name}", daemon=True
            )
            self._thread.start()

    def sync(self, timeout: float) -> None:
        """Wait until every record written before this call is applied (markers)."""
        deadline = time.monotonic() + timeout
        self._read_to(self._mark(deadline), deadline)

    def positions(self) -> dict[int, int]:
        """Per partition, the next offset to apply: everything below it was applied."""
        with self._changed:
            return dict(self._positions)

    @property
    def following(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _describe(self, timeout: float) -> list[int]:
        try:
            meta = self._consumer.list_topics(timeout=max(timeout, 0.1))
        except KafkaException as exc:
            raise DeliveryLogError(
                f"cannot describe delivery-log topic {self.topic!r} at {self._bootstrap}: "
                f"{exc.args[0]}"
            ) from None
        described = meta.topics.get(self.topic)  # all topics: asking by name auto-creates
        if described is None:
            raise DeliveryLogError(
                f"delivery-log topic {self.topic!r} does not exist on {self._bootstrap}"
            )
        if described.error is not None or not described.partitions:
            raise DeliveryLogError(
                f"delivery-log topic {self.topic!r} cannot be read: "
                f"{described.error or 'no partitions'}"
            )
        return sorted(described.partitions)

    def _mark(self, deadline: float) -> dict[int, int]:
        """One marker per partition, acknowledged: partition → its offset."""
        key = f"{MARKER_PREFIX}{uuid.uuid4()}".encode()
        offsets: dict[int, int] = {}
        errors: list[str] = []

        def acked(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(err.str())
            else:
                offsets[int(msg.partition() or 0)] = int(msg.offset() or 0)

        try:
            for partition in self._partitions:
                self._producer.produce(self.topic, b"", key, partition=partition, on_delivery=acked)
        except (BufferError, KafkaException) as exc:
            raise DeliveryLogError(
                f"cannot write markers to delivery-log topic {self.topic!r} at "
                f"{self._bootstrap}: {exc}"
            ) from None
        while len(offsets) + len(errors) < len(self._partitions):
            if (left := deadline - time.monotonic()) <= 0:
                break
            self._producer.poll(min(left, 0.05))
        if len(offsets) < len(self._partitions):
            why = errors[0] if errors else "not acknowledged in time"
            raise DeliveryLogError(
                f"cannot write markers to delivery-log topic {self.topic!r} at "
                f"{self._bootstrap}: {why}"
            )
        return offsets

    def _starts(self, markers: dict[int, int], deadline: float) -> dict[int, int]:
        wanted = [TopicPartition(self.topic, p, int(self.start * 1000)) for p in self._partitions]
        try:
            found = self._consumer.offsets_for_times(
                wanted, timeout=max(deadline - time.monotonic(), 0.1)
            )
        except KafkaException as exc:
            raise DeliveryLogError(
                f"cannot look up offsets of {self.topic!r} at {self._bootstrap}: {exc.args[0]}"
            ) from None
        return {
            tp.partition: tp.offset if 0 <= tp.offset <= markers[tp.partition]
            else markers[tp.partition]
            for tp in found
        }  # fmt: skip

    def _read_to(self, markers: dict[int, int], deadline: float) -> None:
        def passed() -> bool:
            return all(self._positions.get(p, 0) > o for p, o in markers.items())

        if self._thread is not None:
            with self._changed:
                reached = self._changed.wait_for(passed, max(deadline - time.monotonic(), 0))
        else:
            while not passed() and (left := deadline - time.monotonic()) > 0:
                self._poll(min(left, _POLL))
            reached = passed()
        if not reached:
            raise DeliveryLogError(
                f"did not read delivery-log topic {self.topic!r} at {self._bootstrap} up to "
                f"its markers in time"
                + (f" (last error: {self.last_error})" if self.last_error else "")
            )

    # -- following ---------------------------------------------------------------------------

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._poll(_POLL)
            except Exception as exc:  # keep following: a stopped follower is silently stale
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("delivery log follower failed a poll", extra={"topic": self.topic})
                self._stop.wait(1.0)

    def _poll(self, wait: float) -> None:
        with self._polling:
            first = self._consumer.poll(wait)
            if first is None:
                return
            batch = [first, *self._consumer.consume(_BATCH - 1, 0)]
            records: list[AttemptRecord] = []
            moved: dict[int, int] = {}
            for message in batch:
                error = message.error()
                if error is not None:
                    self._on_error(error)
                    continue
                moved[int(message.partition() or 0)] = int(message.offset() or 0) + 1
                record = self._decode(message)
                if record is not None:
                    records.append(record)
            if records:
                self._apply(records)
                self.records += len(records)
            with self._changed:
                self._positions.update(moved)
                self._changed.notify_all()

    def _decode(self, message: Message) -> AttemptRecord | None:
        key = message.key() or b""
        if key.startswith(b"marker/"):
            return None
        record = AttemptRecord.decode(message.value())
        endpoint = record.endpoint_id if record is not None else None
        if endpoint is not None and key != endpoint.encode():
            self.legacy += 1
        return record

    def _on_error(self, err: KafkaError) -> None:
        if err.code() in (KafkaError._TRANSPORT, KafkaError._PARTITION_EOF):
            return  # a dropped connection reconnects
        text = f"{err.name()}: {err.str()}"
        if text != self.last_error:
            log.warning("delivery log read error", extra={"topic": self.topic, "error": text})
        self.last_error = text

    # -- one endpoint's history --------------------------------------------------------------

    def read_endpoint(
        self,
        endpoint_id: str,
        since: float,
        *,
        limit: int,
        keep: Callable[[AttemptRecord], bool] | None = None,
        timeout: float,
    ) -> EndpointRead:
        """The ``limit`` newest attempts of ``endpoint_id`` at or after ``since`` that
        ``keep`` accepts, from the log, up to what the follower has applied."""
        if not self.loaded:
            raise RuntimeError(f"delivery log follower {self.name!r} is not loaded")
        deadline = time.monotonic() + timeout
        key = endpoint_id.encode()
        stops = self.positions()
        parts = sorted(stops)
        if self._keyed and self.legacy == 0:
            parts = [partition_for(key, len(self._partitions))]
        consumer = self._new_consumer("read")
        try:
            starts = self._since(consumer, parts, since, deadline)
            todo = {p: o for p, o in starts.items() if 0 <= o < stops.get(p, 0)}
            consumer.assign([TopicPartition(self.topic, p, o) for p, o in todo.items()])
            return _scan(consumer, todo, stops, _Wanted(endpoint_id, since, keep), limit, deadline)
        finally:
            consumer.close()

    def _since(
        self, consumer: Consumer, parts: list[int], since: float, deadline: float
    ) -> dict[int, int]:
        wanted = [TopicPartition(self.topic, p, int(since * 1000)) for p in parts]
        try:
            found = consumer.offsets_for_times(
                wanted, timeout=max(deadline - time.monotonic(), 0.1)
            )
        except KafkaException as exc:
            raise DeliveryLogError(
                f"cannot look up offsets of {self.topic!r} at {self._bootstrap}: {exc.args[0]}"
            ) from None
        return {tp.partition: tp.offset for tp in found}  # -1: nothing since then

    def _new_consumer(self, role: str) -> Consumer:
        wait = _FOLLOWER_WAIT if role == "follower" else _READ_WAIT
        return Consumer(
            with_logger(
                {
                    **_FETCH,
                    **wait,
                    **self._properties,
                    **_READER,
                    "group.id": f"kafkahooks.{self.name}.{uuid.uuid4().hex}",  # never commits
                    "client.id": f"kafkahooks-{self.name}-{role}",
                }
            )
        )

    # -- the end -----------------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Stop the follower and close its clients (at most ``timeout`` plus one poll)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if not self.following:
            self._consumer.close()
        self._producer.flush(timeout)

    def __enter__(self) -> DeliveryLogFollower:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class _Wanted:
    endpoint_id: str
    since: float
    keep: Callable[[AttemptRecord], bool] | None

    def __call__(self, record: AttemptRecord) -> bool:
        return (
            record.endpoint_id == self.endpoint_id
            and record.at >= self.since
            and (self.keep is None or self.keep(record))
        )


def _scan(
    consumer: Consumer,
    todo: dict[int, int],
    stops: dict[int, int],
    wanted: _Wanted,
    limit: int,
    deadline: float,
) -> EndpointRead:
    """Read each partition in ``todo`` up to its stop offset; keep the newest ``limit``."""
    needle = wanted.endpoint_id.encode()
    newest: list[tuple[float, int, AttemptRecord]] = []  # a min-heap by time
    left_parts = set(todo)
    scanned = 0
    while left_parts and (left := deadline - time.monotonic()) > 0:
        for message in consumer.consume(_BATCH, min(left, _POLL)):
            if message.error() is not None:
                continue
            partition, offset = int(message.partition() or 0), int(message.offset() or 0)
            if offset + 1 >= stops[partition]:
                left_parts.discard(partition)
            value = message.value() or b""
            if offset >= stops[partition] or not value:  # past the stop, or a marker
                continue
            scanned += 1
            if needle not in value:  # cheap: most records are other endpoints'
                continue
            record = AttemptRecord.decode(value)
            if record is None or not wanted(record):
                continue
            item = (record.at, scanned, record)
            if len(newest) < limit:
                heapq.heappush(newest, item)
            else:
                heapq.heappushpop(newest, item)
    records = [r for _, _, r in sorted(newest, reverse=True)]
    return EndpointRead(records, complete=not left_parts, scanned=scanned)
