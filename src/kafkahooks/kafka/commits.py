"""The one place that commits offsets, always from the tracker's positions.

Threads: the tracker belongs to the event loop, the consumer to the Kafka
thread.  So the loop takes the positions (``take``), the Kafka thread sends
them (``send``, ``commit_sync``), and the broker's answers to asynchronous
commits (the ``on_commit`` callback, served on the Kafka thread inside
``consume``) wait in a queue until the loop applies them (``settle``).  A
position is committed only once the broker acknowledged it; a failed commit
is logged, counted (``kafkahooks_commit_failures_total``) and its positions
go out again with the next due commit, even while the partition stays quiet.

Progress (``kafka/progress.py``): for partitions whose window counts unfinished events
only, the finished offsets above a commit's positions are written to the progress topic
first, on the Kafka thread, and the commit is sent once that write was acknowledged.
Before, not together: a commit whose record was lost would let the next owner deliver
those events again, while a record whose commit was lost only names offsets that were
finished anyway.  The write blocks the Kafka thread for one acknowledged produce (a few
ms; only while something is held above a position, so never for a healthy bridge).
A failed write is logged and counted, and the commit still goes (at-least-once does not
depend on it); the partitions' records are written again with the next commit.

``dlq replay`` commits through :class:`TransactionalCommits` below: its dead-letter
writes and its offsets in one Kafka transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any, Literal, Protocol, overload

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from kafkahooks.errors import KafkahooksError
from kafkahooks.kafka.offsets import OffsetTracker, TopicPartitionKey
from kafkahooks.kafka.progress import Progress
from kafkahooks.telemetry import METRICS

__all__ = [
    "CommitConsumer",
    "Committer",
    "ProgressEntries",
    "ProgressStore",
    "TransactionStopped",
    "TransactionalCommits",
]

log = logging.getLogger("kafkahooks.commits")

_MIN_SPACING = 0.5  # seconds between two periodic commits

Positions = dict[TopicPartitionKey, int]
ProgressEntries = dict[TopicPartitionKey, Progress | None]


class ProgressStore(Protocol):
    """Where finished offsets above the positions go (``kafka/progress.ProgressLog``)."""

    def load(
        self, group: str, tps: list[TopicPartitionKey]
    ) -> dict[TopicPartitionKey, Progress]: ...

    def write(self, group: str, entries: ProgressEntries) -> None: ...


class CommitConsumer(Protocol):
    """What the committer needs of a consumer."""

    @overload
    def commit(
        self, *, offsets: list[TopicPartition], asynchronous: Literal[True] = ...
    ) -> None: ...

    @overload
    def commit(
        self, *, offsets: list[TopicPartition], asynchronous: Literal[False]
    ) -> list[TopicPartition]: ...


class Committer:
    def __init__(
        self,
        consumer: CommitConsumer,
        tracker: OffsetTracker,
        interval: float,
        every: int,
        group: str = "",
        progress: ProgressStore | None = None,
    ) -> None:
        self._consumer = consumer
        self._progress = progress
        self._tracker = tracker
        self._interval = interval
        self._every = every
        self._group = group
        self._last = time.monotonic()
        # (error or None, [(topic, partition, offset, per-partition error)]) per answer;
        # appended on the Kafka thread, popped on the loop (deque ends are thread-safe)
        self._answers: deque[tuple[Any, list[tuple[str, int, int, Any]]]] = deque()
        # partitions whose progress record was not written (Kafka thread → loop)
        self._unwritten: deque[list[TopicPartitionKey]] = deque()
        self.commits = 0
        self.failures = 0

    # -- the loop's side ---------------------------------------------------------
    def due(self) -> bool:
        """Whether ``take`` would give positions now (no broker call to find out)."""
        since = time.monotonic() - self._last
        due = since >= self._interval or self._tracker.finished_since_commit >= self._every
        return due and since >= min(_MIN_SPACING, self._interval)

    def take(self) -> tuple[Positions, ProgressEntries]:
        """Once per interval, sooner when ``every`` events finished, but never more than
        twice a second (each commit is a broker round trip): the positions to send, and
        the progress records to write first."""
        if not self.due():
            return {}, {}
        self._last = time.monotonic()
        positions = self._tracker.positions()
        if positions:
            self._tracker.mark_sent(positions)
        return positions, self.progress()

    def progress(self, tps: list[TopicPartitionKey] | None = None) -> ProgressEntries:
        """The progress records due with a commit (none without a progress store);
        records that were not written are due again."""
        if self._progress is None:
            return {}
        while self._unwritten:
            self._tracker.progress_failed(self._unwritten.popleft())
        return self._tracker.progress(tps)

    @property
    def answered(self) -> bool:
        return bool(self._answers or self._unwritten)

    def settle(self) -> None:
        """Apply the broker's answers: acknowledged positions are committed; failed ones
        are sent again with the next due commit, and so are progress records not written."""
        while self._unwritten:
            self._tracker.progress_failed(self._unwritten.popleft())
        while self._answers:
            error, parts = self._answers.popleft()
            done: Positions = {}
            failed: Positions = {}
            for topic, partition, offset, part_error in parts:
                bad = part_error if part_error is not None else error
                if bad is None or _nothing_to_commit(bad):
                    done[(topic, partition)] = offset
                else:
                    failed[(topic, partition)] = offset
                    error = error or part_error
            if done:
                self._tracker.mark_committed(done)
                self.commits += 1
            if failed:
                self._tracker.mark_failed(failed)
                self._failed("async", error, failed)

    # -- the Kafka thread's side ----------------------------------------------------
    def send(self, positions: Positions, progress: ProgressEntries | None = None) -> None:
        """Write the progress records, then an asynchronous commit; its answer comes
        through ``on_commit``."""
        self.write_progress(progress)
        if not positions:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        started = time.perf_counter()
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:  # refused locally (e.g. no longer a member)
            self._answers.append((exc.args[0] if exc.args else exc, _parts(offsets)))
            return
        METRICS.commits.labels("async").inc()  # sent; a refusal is counted when it comes
        METRICS.commit_seconds.labels("async").observe(time.perf_counter() - started)

    def on_commit(self, error: Any, partitions: list[TopicPartition]) -> None:
        """The consumer's ``on_commit`` callback (Kafka thread)."""
        self._answers.append((error, _parts(partitions)))

    def write_progress(self, progress: ProgressEntries | None) -> None:
        """Write progress records and wait for the broker (Kafka thread); a failure is
        logged, counted and handed to the loop to be written again."""
        if not progress or self._progress is None:
            return
        try:
            self._progress.write(self._group, progress)
        except KafkahooksError as exc:  # StoreError: not written (in time)
            METRICS.progress_failures.labels(self._group).inc()
            self._unwritten.append(list(progress))
            log.error(
                "progress not written: a new owner of these partitions may deliver events "
                "finished above the committed offset again",
                extra={"group": self._group, "error": str(exc),
                       "partitions": [f"{t}/{p}" for t, p in progress]},
            )  # fmt: skip

    def commit_sync(
        self, positions: Positions, mode: str = "sync", progress: ProgressEntries | None = None
    ) -> None:
        """Synchronous commit of a snapshot taken on the loop (revocation, shutdown),
        after its progress records; raises ``KafkaException`` when the broker refused it."""
        self.write_progress(progress)
        if not positions:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        started = time.perf_counter()
        try:
            answer = self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else exc
            if _nothing_to_commit(error):
                return
            self._failed(mode, error, positions)
            raise
        refused = [p for p in answer or [] if p.error is not None]
        if refused:
            self._failed(mode, refused[0].error, positions)
            raise KafkaException(refused[0].error)
        self.commits += 1
        METRICS.commits.labels("sync").inc()
        METRICS.commit_seconds.labels("sync").observe(time.perf_counter() - started)
        log.debug(
            "committed", extra={"offsets": {f"{t}/{p}": o for (t, p), o in positions.items()}}
        )

    def _failed(self, mode: str, error: Any, positions: Positions) -> None:
        self.failures += 1
        METRICS.commit_failures.labels(self._group, mode).inc()
        log.error(
            "commit failed",
            extra={
                "group": self._group,
                "mode": mode,
                "error": str(error),
                "offsets": {f"{t}/{p}": o for (t, p), o in positions.items()},
            },
        )


def _parts(partitions: list[TopicPartition]) -> list[tuple[str, int, int, Any]]:
    return [(p.topic, p.partition, p.offset, p.error) for p in partitions]


def _nothing_to_commit(error: Any) -> bool:
    return isinstance(error, KafkaError) and error.code() == KafkaError._NO_OFFSET


# -- transactional commits (dlq replay) -------------------------------------------
_FENCED_CODES = (
    KafkaError._FENCED,
    KafkaError.PRODUCER_FENCED,
    KafkaError.INVALID_PRODUCER_EPOCH,
)


class TransactionStopped(KafkahooksError):
    """A transactional writer cannot go on (fenced by a newer one with the same
    ``transactional.id``, or a write or commit failed): nothing after its last commit
    counts as done."""


class TransactionalCommits:
    """Writes and offset commits, one Kafka transaction at a time (``dlq replay``).

    A write is only queued in the open transaction; ``commit`` adds the offsets
    and commits both, or neither.  Writes never run while a commit does (the
    lock), so a write always lands in the transaction whose offsets cover it.
    ``start`` fences any older writer with the same ``transactional.id``.
    """

    def __init__(self, properties: dict[str, Any], transactional_id: str, owner: str) -> None:
        self.transactional_id = transactional_id
        self._owner = owner  # named in the error when fenced, e.g. "replay of route 'calls'"
        conf: dict[str, Any] = {
            **properties,
            "transactional.id": transactional_id,
            "client.id": "kafkahooks-replay",
            "acks": "all",
        }
        self._producer = Producer(conf)
        self._lock = asyncio.Lock()
        self._direct_commits = 0  # see confirm_applied

    def _stopped(self, exc: KafkaException | BufferError, doing: str) -> TransactionStopped:
        err = exc.args[0] if exc.args else None
        if isinstance(err, KafkaError) and err.code() in _FENCED_CODES:
            return TransactionStopped(
                f"fenced: another {self._owner} started "
                f"(transactional.id {self.transactional_id}); this one stops ({err.str()})"
            )
        text = err.str() if isinstance(err, KafkaError) else str(exc)
        return TransactionStopped(f"{doing} failed: {text}")

    async def start(self, timeout: float = 30.0) -> None:
        """Fence any older writer (its open transaction ends first), then open the first
        transaction."""
        try:
            await asyncio.to_thread(self._producer.init_transactions, timeout)
            self._producer.begin_transaction()
        except KafkaException as exc:
            raise self._stopped(exc, "starting the transaction") from None

    async def write(
        self, topic: str, value: bytes | None, key: bytes | None, headers: list[Any]
    ) -> None:
        async with self._lock:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers)
            except (BufferError, KafkaException) as exc:
                raise self._stopped(exc, f"write to {topic!r}") from None
            self._producer.poll(0)

    async def commit(
        self, offsets: list[TopicPartition], group: Any, *, again: bool = True
    ) -> None:
        """Commit the open transaction with ``offsets``; open the next one if ``again``."""
        async with self._lock:
            try:
                await asyncio.to_thread(self._commit, offsets, group, again)
            except KafkaException as exc:
                raise self._stopped(exc, "transaction commit") from None

    def _commit(self, offsets: list[TopicPartition], group: Any, again: bool) -> None:
        if offsets:
            self._producer.send_offsets_to_transaction(offsets, group, 10)
        self._producer.commit_transaction(30)
        if again:
            self._producer.begin_transaction()

    def close(self) -> None:
        self._producer.flush(0)

    def confirm_applied(self, consumer: Any, offsets: list[TopicPartition]) -> None:
        """Kafka applies a transaction's offsets when it commits.  The test broker (Tansu)
        drops them from a transaction that wrote no record (all but the first): read them
        back and commit what is missing directly.  On Kafka nothing is ever missing."""
        try:
            asked = [TopicPartition(o.topic, o.partition) for o in offsets]
            fetched = consumer.committed(asked, 10)
            missing = [o for o, f in zip(offsets, fetched, strict=True) if f.offset < o.offset]
            if missing:
                if not self._direct_commits:
                    log.warning(
                        "the broker did not apply the offsets of a committed transaction; "
                        "committing them directly as well"
                    )
                self._direct_commits += 1
                consumer.commit(offsets=missing, asynchronous=False)
        except KafkaException as exc:  # the next commit tries again
            log.warning("transaction offsets not confirmed", extra={"error": str(exc)})
