"""A compacted, single-partition topic used as a database: check it, load it, follow it, write.

Job: hand every record of the store topic, in offset order, to an ``apply(key, value,
offset)`` callable (a tombstone's value is ``None``), first up to "now" (:meth:`StoreLog.load`)
and then as records arrive (:meth:`StoreLog.follow`); write records and return their
acknowledged offsets.  Bytes only: what a record means is the caller's business (this is
how Kafka Connect keeps connector configs and Schema Registry keeps schemas).

Invariants:

- "Read to the end" is a marker, never the end-offset query (on the test broker the end
  offset is wrong after a multi-record batch): :meth:`StoreLog.load` and :meth:`StoreLog.sync`
  write a ``marker/<uuid4>`` record, read until its acknowledged offset was passed, and then
  tombstone it so that compaction removes it.  A marker is never passed to ``apply``.
- The reader never joins a group and never commits: ``assign()`` from the beginning under a
  group id of its own (confluent-kafka refuses a consumer without one, even with assign()).
- ``apply`` is never called on two threads at once: whoever polls holds one lock.  ``load``
  runs it on the caller's thread; after :meth:`StoreLog.follow` only the follower thread
  calls it.  An ``apply`` that raises is logged (offset and error type: never a record's key
  or value, they may hold secrets) and the reader goes on.
- A write returns only once the broker acknowledged it (idempotent producer, ``acks=all``);
  otherwise it raises :class:`StoreWriteError`.  It never reports success it did not see.
- Correctness never depends on compaction having run: superseded records are read and
  applied in order, so the last one of a key wins.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from kafkahooks.errors import KafkahooksError
from kafkahooks.kafka.kafkalog import with_logger
from kafkahooks.kafka.producer import without_consumer_only

__all__ = [
    "MARKER_PREFIX",
    "StoreError",
    "StoreLoad",
    "StoreLog",
    "StoreTopicError",
    "StoreUnavailableError",
    "StoreWriteError",
    "check_store_topic",
    "ensure_store_topic",
]

log = logging.getLogger("kafkahooks.store")

MARKER_PREFIX = "marker/"  # keys of the records that mark "now"; never applied
_FIX = "a store topic needs exactly 1 partition and cleanup.policy=compact"
_POLL = 0.2  # seconds one poll waits: how soon close() and a deadline are noticed
_BATCH = 500  # records taken from the client per poll
_WRITER = {"enable.idempotence": True, "acks": "all"}  # forced: a store write is never doubled
_READER_DEFAULTS = {
    # the longest a fetch waits for new records: the test broker always waits this long
    # (Apache Kafka answers as soon as a record comes), and a follower sees a write that late
    "fetch.wait.max.ms": 100,
}
_READER = {
    "enable.auto.commit": False,  # never commits: every process reads from the beginning
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    "enable.partition.eof": False,  # the end is the marker, not the broker's end offset
}

Apply = Callable[[str, bytes | None, int], object]


class StoreError(KafkahooksError):
    """The store topic cannot be used; the message names the topic and the broker."""


class StoreTopicError(StoreError):
    """The store topic is missing, has more than one partition or is not compacted."""


class StoreUnavailableError(StoreError):
    """The store could not be read to its end (or its topic described) in time."""


class StoreWriteError(StoreError):
    """The broker did not acknowledge a store write (in time): it may or may not be written."""


@dataclass(frozen=True, slots=True)
class StoreLoad:
    """What :meth:`StoreLog.load` read: every record, superseded ones and markers included."""

    records: int
    seconds: float
    offset: int  # the load marker's offset: everything below it was applied


def _bootstrap(properties: dict[str, Any]) -> str:
    return str(properties.get("bootstrap.servers", "?"))


# --- the topic ------------------------------------------------------------------------------


def check_store_topic(properties: dict[str, Any], topic: str, timeout: float) -> None:
    """Raise :class:`StoreTopicError` unless ``topic`` exists with 1 partition and
    ``cleanup.policy=compact`` (a topic that describes no policy counts as ``delete``);
    :class:`StoreUnavailableError` if the broker does not answer within ``timeout``."""
    deadline = time.monotonic() + timeout
    admin = AdminClient(with_logger(without_consumer_only(properties)))
    try:
        partitions = _partition_count(admin, properties, topic, timeout)
        if partitions is None:
            raise StoreTopicError(
                f"store topic {topic!r} does not exist on {_bootstrap(properties)}: "
                f"create it with 1 partition and cleanup.policy=compact"
            )
        if partitions != 1:
            raise StoreTopicError(
                f"store topic {topic!r} has {partitions} partitions; {_FIX} (one order of "
                f"records for every reader), and partitions cannot be removed: create a new "
                f"topic with 1 partition and cleanup.policy=compact and use it instead"
            )
        policy = _cleanup_policy(admin, properties, topic, deadline - time.monotonic())
        if policy != "compact":
            raise StoreTopicError(
                f"store topic {topic!r} has cleanup.policy={policy}; {_FIX} (otherwise "
                f"retention deletes records still in force): set cleanup.policy=compact on it"
            )
    finally:
        admin.poll(0)  # librdkafka's lines reach the logger only from poll()


def ensure_store_topic(properties: dict[str, Any], topic: str, timeout: float) -> bool:
    """Create ``topic`` (1 partition, ``cleanup.policy=compact``) if it does not exist, then
    :func:`check_store_topic` it.  Returns whether this call created it."""
    deadline = time.monotonic() + timeout
    admin = AdminClient(with_logger(without_consumer_only(properties)))
    try:
        created = False
        if _partition_count(admin, properties, topic, timeout) is None:
            created = _create(admin, properties, topic, deadline - time.monotonic())
    finally:
        admin.poll(0)
    while True:  # a topic just created may take a moment to show (with a leader)
        try:
            check_store_topic(properties, topic, max(deadline - time.monotonic(), 0.1))
            return created
        except (StoreTopicError, StoreUnavailableError):
            if not created or time.monotonic() >= deadline:
                raise
            time.sleep(_POLL)


def _partition_count(
    admin: AdminClient, properties: dict[str, Any], topic: str, timeout: float
) -> int | None:
    """The topic's partition count, ``None`` if it does not exist.  Asks for every topic:
    asking for one by name creates it on brokers that auto-create (the test broker does,
    with 4 partitions)."""
    try:
        described = admin.list_topics(timeout=max(timeout, 0.1)).topics.get(topic)
    except KafkaException as exc:
        raise StoreUnavailableError(
            f"cannot describe store topic {topic!r} at {_bootstrap(properties)}: {exc.args[0]}"
        ) from None
    if described is None:
        return None
    if described.error is not None:
        raise StoreUnavailableError(
            f"cannot describe store topic {topic!r} at {_bootstrap(properties)}: {described.error}"
        )
    return len(described.partitions)


def _cleanup_policy(
    admin: AdminClient, properties: dict[str, Any], topic: str, timeout: float
) -> str:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    try:
        future = admin.describe_configs([resource], request_timeout=max(timeout, 0.1))[resource]
        configs = future.result(max(timeout, 0.1))
    except (KafkaException, TimeoutError) as exc:
        raise StoreUnavailableError(
            f"cannot describe the configs of store topic {topic!r} at "
            f"{_bootstrap(properties)}: {exc.args[0] if exc.args else 'timed out'}"
        ) from None
    entry = configs.get("cleanup.policy")
    value = entry.value if entry is not None else None
    return str(value) if value else "delete"  # Apache Kafka's default when none is set


def _create(admin: AdminClient, properties: dict[str, Any], topic: str, timeout: float) -> bool:
    new = NewTopic(topic, 1, config={"cleanup.policy": "compact"})
    future = admin.create_topics([new], request_timeout=max(timeout, 0.1))[topic]
    try:
        future.result(max(timeout, 0.1))
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False  # another process created it first
        raise StoreTopicError(
            f"store topic {topic!r} does not exist on {_bootstrap(properties)} and could not "
            f"be created ({error}): create it with 1 partition and cleanup.policy=compact"
        ) from None
    except TimeoutError:
        raise StoreUnavailableError(
            f"creating store topic {topic!r} at {_bootstrap(properties)} did not finish "
            f"within {timeout:.1f}s"
        ) from None
    log.info("created store topic", extra={"topic": topic})
    return True


class _Ack:
    """One write's delivery report (set on whichever thread polls the producer)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: KafkaError | None = None
        self.offset = -1

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        self.error = err
        self.offset = int(msg.offset() or 0)
        self.done.set()


# --- the log --------------------------------------------------------------------------------


class StoreLog:
    """One store topic, read from the beginning and followed; see the module doc.

    Use: ``load()`` (apply everything up to now, on this thread), then ``follow()`` (one
    daemon thread applies what comes next), ``write()`` and ``wait_applied()`` (a writer
    learns whether it won by reading up to its own offset), ``close()``.  Without
    ``follow()``, ``wait_applied()`` and ``sync()`` read on the calling thread instead.
    """

    def __init__(
        self, properties: dict[str, Any], topic: str, apply: Apply, *, name: str = "store"
    ) -> None:
        self.topic = topic
        self.name = name
        self._apply = apply
        self._properties = properties
        self._bootstrap = _bootstrap(properties)
        self._producer = Producer(
            with_logger(
                {
                    "linger.ms": 5,
                    "message.timeout.ms": 30_000,
                    **without_consumer_only(properties),
                    **_WRITER,
                    "client.id": f"kafkahooks-{name}-writer",
                    "error_cb": self._on_error,
                }
            )
        )
        self._consumer = Consumer(
            with_logger(
                {
                    **_READER_DEFAULTS,
                    **properties,
                    **_READER,
                    "group.id": f"kafkahooks.store.{uuid.uuid4().hex}",  # never commits
                    "client.id": f"kafkahooks-{name}-reader",
                    "error_cb": self._on_error,
                }
            )
        )
        self._polling = threading.Lock()  # held by whoever polls the consumer (and applies)
        self._changed = threading.Condition()  # notified when ``applied`` moves
        self._applied = -1
        self._records = 0
        self._assigned = False
        self._checked = False  # the topic passed check_store_topic
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.loaded = False  # load() finished: every record up to its marker is applied
        self.not_applied = 0  # records skipped: no/undecodable key, or ``apply`` raised
        # the last client error since the store last read back a marker (health output)
        self.last_error: str | None = None

    # -- reading -----------------------------------------------------------------------------

    @property
    def applied(self) -> int:
        """The highest offset read and applied (markers count); -1 before the first."""
        return self._applied

    @property
    def following(self) -> bool:
        """Whether the follower thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def load(self, timeout: float) -> StoreLoad:
        """Apply every record up to now on this thread: check the topic, write a marker,
        read from the beginning up to its offset.  Raises :class:`StoreTopicError` (see
        :func:`check_store_topic`), or :class:`StoreUnavailableError` if it does not finish
        within ``timeout``."""
        if self.loaded:
            raise RuntimeError(f"store {self.name!r} is already loaded")
        started = time.monotonic()  # a failed load may be retried: it goes on where it was
        self._check_topic(timeout)
        with self._polling:
            if not self._assigned:
                self._consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
                self._assigned = True
        try:
            offset = self._mark_and_read(max(started + timeout - time.monotonic(), 0.0))
        except (StoreWriteError, StoreUnavailableError) as exc:
            raise StoreUnavailableError(f"cannot load the store: {exc}") from None
        self.loaded = True
        seconds = time.monotonic() - started
        log.info(
            "store loaded",
            extra={"store": self.name, "topic": self.topic, "records": self._records,
                   "seconds": round(seconds, 3), "offset": offset},
        )  # fmt: skip
        return StoreLoad(self._records, seconds, offset)

    def sync(self, timeout: float) -> int:
        """Read up to now: write a marker and wait until it is applied; its offset.
        Raises :class:`StoreWriteError` or :class:`StoreUnavailableError`."""
        if not self.loaded:
            raise RuntimeError(f"store {self.name!r} is not loaded")
        return self._mark_and_read(timeout)

    def follow(self) -> None:
        """Start the one thread that applies new records (once; after :meth:`load`)."""
        if not self.loaded:
            raise RuntimeError(f"store {self.name!r} is not loaded")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._follow, name=f"kafkahooks-{self.name}", daemon=True
            )
            self._thread.start()

    def wait_applied(self, offset: int, timeout: float) -> bool:
        """Whether ``offset`` was applied within ``timeout``: waits for the follower, or,
        without one, reads on this thread."""
        if self._thread is not None:
            with self._changed:
                return self._changed.wait_for(lambda: self._applied >= offset, timeout)
        deadline = time.monotonic() + timeout
        while self._applied < offset and (left := deadline - time.monotonic()) > 0:
            self._poll(min(left, _POLL))
        return self._applied >= offset

    def _mark_and_read(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        key = f"{MARKER_PREFIX}{uuid.uuid4()}"
        ack = _Ack()
        self._send(key, b"", ack)
        # read meanwhile: an idempotent producer's first acknowledgement takes 0.5-1 s here
        while not ack.done.is_set() and (left := deadline - time.monotonic()) > 0:
            if self._thread is None:
                self._poll(min(left, 0.05))
            else:
                self._producer.poll(min(left, 0.05))
        offset = self._acknowledged(ack, timeout)
        reached = self.wait_applied(offset, max(deadline - time.monotonic(), 0.0))
        self._send(key, None, self._on_tombstoned)  # compaction removes the marker
        if not reached:
            raise StoreUnavailableError(
                f"read store topic {self.topic!r} at {self._bootstrap} up to offset "
                f"{self._applied}, not to its marker at {offset}, within {timeout:g}s"
                + (f" (last error: {self.last_error})" if self.last_error else "")
            )
        self.last_error = None  # written and read back: whatever it was is over
        return offset

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._poll(_POLL)
            except Exception as exc:  # keep following: a store that stops is silently stale
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("store follower failed a poll", extra={"store": self.name})
                self._stop.wait(1.0)

    def _poll(self, wait: float) -> None:
        with self._polling:
            highest = -1
            for message in self._take_batch(wait):
                error = message.error()
                if error is not None:
                    self._on_error(error)
                    continue
                self._take(message)
                highest = max(highest, int(message.offset() or 0))
            if highest > self._applied:
                with self._changed:
                    self._applied = highest
                    self._changed.notify_all()
        self._producer.poll(0)  # delivery reports and log lines of marker tombstones

    def _take_batch(self, wait: float) -> list[Message]:
        """What arrived: waits up to ``wait`` for the first record only (``consume(n, t)``
        would wait the whole ``t`` unless ``n`` records came), then takes what is queued."""
        first = self._consumer.poll(wait)
        return [] if first is None else [first, *self._consumer.consume(_BATCH - 1, 0)]

    def _take(self, message: Message) -> None:
        self._records += 1
        offset = int(message.offset() or 0)
        try:
            key = (message.key() or b"").decode()
        except UnicodeDecodeError:
            self._not_applied(offset, "key not UTF-8")
            return
        if key.startswith(MARKER_PREFIX):
            return
        if not key:
            self._not_applied(offset, "no key")
            return
        try:
            self._apply(key, message.value(), offset)
        except Exception as exc:  # one bad record must not stop the store
            self._not_applied(offset, type(exc).__name__)

    def _not_applied(self, offset: int, error: str) -> None:
        self.not_applied += 1
        log.error(
            "store record not applied",
            extra={"store": self.name, "topic": self.topic, "offset": offset, "error": error},
        )

    # -- writing -----------------------------------------------------------------------------

    def write(self, key: str, value: bytes | None, timeout: float) -> int:
        """Write one record (``None``: a tombstone) and return its acknowledged offset.
        Raises :class:`StoreWriteError` when the broker refuses it or does not acknowledge
        it within ``timeout`` (then it may still be written later); the first call on a
        store not loaded checks the topic (:class:`StoreTopicError`)."""
        if key.startswith(MARKER_PREFIX):
            raise ValueError(f"store keys starting with {MARKER_PREFIX!r} are markers")
        deadline = time.monotonic() + timeout
        self._check_topic(timeout)
        ack = _Ack()
        self._send(key, value, ack)
        while not ack.done.is_set() and (left := deadline - time.monotonic()) > 0:
            self._producer.poll(min(left, 0.05))
        return self._acknowledged(ack, timeout)

    def write_many(
        self, records: Iterable[tuple[str, bytes | None]], timeout: float
    ) -> list[int | StoreWriteError]:
        """Write ``records`` pipelined (all produced, then every acknowledgement awaited:
        2,000 records take one round trip's wait, not 2,000) and return, per record in
        order, its acknowledged offset or the :class:`StoreWriteError` saying why not.
        Records are sent in order on the one partition, so their offsets keep that order."""
        if self._closed:
            raise StoreWriteError(f"store {self.name!r} is closed")
        deadline = time.monotonic() + timeout
        self._check_topic(timeout)
        acks: list[_Ack | StoreWriteError] = []
        for key, value in records:
            if key.startswith(MARKER_PREFIX):
                raise ValueError(f"store keys starting with {MARKER_PREFIX!r} are markers")
            acks.append(self._send_waiting(key, value, deadline))
        for ack in acks:
            while isinstance(ack, _Ack) and not ack.done.is_set():
                if (left := deadline - time.monotonic()) <= 0:
                    break
                self._producer.poll(min(left, 0.05))
        results: list[int | StoreWriteError] = []
        for ack in acks:
            if isinstance(ack, StoreWriteError):
                results.append(ack)
                continue
            try:
                results.append(self._acknowledged(ack, timeout))
            except StoreWriteError as exc:
                results.append(exc)
        return results

    def publish(self, topic: str, key: str, value: bytes, timeout: float) -> int:
        """Write one record to another ``topic`` of the store's cluster (the store's
        operational events) with the store's writer; its acknowledged offset, or
        :class:`StoreWriteError`."""
        if self._closed:
            raise StoreWriteError(f"store {self.name!r} is closed")
        deadline = time.monotonic() + timeout
        ack = _Ack()
        try:
            self._producer.produce(topic, value=value, key=key.encode(), on_delivery=ack)
        except (BufferError, KafkaException) as exc:
            raise StoreWriteError(f"cannot write to topic {topic!r}: {exc}") from None
        while not ack.done.is_set() and (left := deadline - time.monotonic()) > 0:
            self._producer.poll(min(left, 0.05))
        return self._acknowledged(ack, timeout)

    def _send_waiting(
        self, key: str, value: bytes | None, deadline: float
    ) -> _Ack | StoreWriteError:
        """Produce one record of a pipelined batch; a full local queue is drained first."""
        ack = _Ack()
        while True:
            try:
                self._producer.produce(
                    self.topic, value=value, key=key.encode(), partition=0, on_delivery=ack
                )
                return ack
            except BufferError:
                if time.monotonic() >= deadline:
                    return StoreWriteError(
                        f"store {self.name!r}: the local write queue stayed full"
                    )
                self._producer.poll(0.05)
            except KafkaException as exc:
                return StoreWriteError(
                    f"cannot write to store topic {self.topic!r} at {self._bootstrap}: {exc}"
                )

    def _check_topic(self, timeout: float) -> None:
        """Once per store, before its first write: a write to a missing topic auto-creates
        it on brokers that allow it, with their default shape (the test broker: 4
        partitions, no policy)."""
        if not self._checked:
            check_store_topic(self._properties, self.topic, timeout)
            self._checked = True

    def _acknowledged(self, ack: _Ack, timeout: float) -> int:
        if not ack.done.is_set():
            raise StoreWriteError(
                f"write to store topic {self.topic!r} at {self._bootstrap} was not "
                f"acknowledged within {timeout:g}s (it may still be written)"
            )
        if ack.error is not None:
            raise StoreWriteError(
                f"store topic {self.topic!r} at {self._bootstrap} refused a write: "
                f"{ack.error.str()}"
            )
        return ack.offset

    def _send(self, key: str, value: bytes | None, on_delivery: Any) -> None:
        if self._closed:
            raise StoreWriteError(f"store {self.name!r} is closed")
        try:
            self._producer.produce(
                self.topic, value=value, key=key.encode(), partition=0, on_delivery=on_delivery
            )
        except (BufferError, KafkaException) as exc:
            raise StoreWriteError(
                f"cannot write to store topic {self.topic!r} at {self._bootstrap}: {exc}"
            ) from None

    def _on_tombstoned(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:  # harmless: readers skip markers; only compaction is lost
            log.warning("store marker not tombstoned", extra={"store": self.name})

    def _on_error(self, err: KafkaError) -> None:
        """librdkafka's client-level errors and a read's error events (polling thread)."""
        if err.code() == KafkaError._TRANSPORT:
            return  # one connection dropped (the test broker closes idle ones): it reconnects
        text = f"{err.name()}: {err.str()}"
        if text != self.last_error:  # librdkafka's own lines show the repeats
            log.warning("store client error", extra={"store": self.name, "error": text})
        self.last_error = text

    # -- the end -----------------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Stop the follower, close the reader, flush the writer: at most ``timeout`` in all
        (plus one poll).  A follower stuck in ``apply`` is left behind (daemon thread)."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.following:
            log.warning("store follower did not stop", extra={"store": self.name})
        else:
            self._consumer.close()
        self._producer.flush(max(deadline - time.monotonic(), 0.0))

    def __enter__(self) -> StoreLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
