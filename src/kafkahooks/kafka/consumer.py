"""The Kafka loop: poll in batches, hand records to the pipeline, backpressure,
rebalances, commits, shutdown.

Two threads, each owning its own things.  Every consumer call happens on one
thread (``_kafka``), one at a time, so the librdkafka handle is never used
concurrently; rebalance and commit callbacks run there too, inside
``consume()``.  The offset tracker, the pipeline and the loop's own
bookkeeping (deferred partitions, the owned set) belong to the event loop:
a callback hands its work to the loop as a coroutine and waits for it, then
does the Kafka part (commit, assign) itself.

The window bounds what is held: a record is taken only for an owned, unpaused
partition with room in the window, at an offset above the last one taken
there.  Anything else is given back with ``seek()`` to its offset (or, at or
below the last offset taken, is a redelivery of an event already in hand and
is dropped), so a pause librdkafka did not apply cannot grow the window.
The window counts what the tracker's rule for the partition counts (``kafka/offsets.py``:
every event behind the oldest unfinished, or, for topics of routes with ``endpoints:``,
unfinished events only); ``held_max`` caps every offset held, finished or not, so the
sparse rule's memory is bounded too.  Either limit reached: the same wait, then pause.

A partition of a sparse topic is given its previous owner's progress record
(``kafka/progress.py``) in the assignment callback, before any of its records is taken;
a record that record names as finished is finished here at once, not delivered.

Start-up is said, not silent: until the first assignment the loop logs every
``_JOIN_NOTE_EVERY`` seconds that it waits for the group join and what that takes
(on the test broker the first assignment takes about half of ``session.timeout.ms``:
≈ 23 s at the client default of 45 s, ≈ 3 s at 6 s); each assignment and revocation is
one line with the group, the partitions and the seconds since the subscription.  No
broker answering is said once through :class:`Reachability` (``kafka/kafkalog.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

import kafkahooks.kafka.offsets as offsets  # read at run time: tests switch CHECK_THREADS on
from kafkahooks.errors import KafkahooksError
from kafkahooks.event import Event
from kafkahooks.kafka.commits import CommitConsumer, Committer, ProgressEntries, ProgressStore
from kafkahooks.kafka.kafkalog import Reachability, with_logger
from kafkahooks.kafka.offsets import OffsetTracker, TopicPartitionKey
from kafkahooks.kafka.progress import Progress
from kafkahooks.telemetry import METRICS

__all__ = ["ConsumerLoop", "KafkaConsumer", "Processor", "consumer_config"]

log = logging.getLogger("kafkahooks.consumer")

T = TypeVar("T")


class Processor(Protocol):
    """What the loop hands records to (``engine.Pipeline``): the loop knows nothing else
    of the engine, so ``kafka/`` stays below it."""

    @property
    def fatal(self) -> BaseException | None:
        """Why the member must stop (it then stops taking records), or ``None``."""
        ...

    def accept(self, event: Event) -> float | None:
        """Take a record; a time instead means "not now: read it again then"."""
        ...

    async def drain(self, tps: list[TopicPartitionKey], timeout: float) -> bool:
        """Finish what these partitions have taken, up to ``timeout``; cancel the rest."""
        ...

    def reset(self, tps: list[TopicPartitionKey]) -> None:
        """These partitions changed hands: per-partition counts start again."""
        ...

    def activity(self) -> tuple[int, bool]:
        """Attempts started so far, and whether a delivery is under way."""
        ...


_POLL_TIMEOUT = 0.1
# Seconds of taking records between two turns of the event loop.  Taking a whole poll
# at once kept every in-flight answer waiting (50 ms receiver: 57 ms per attempt instead
# of 51); a slice of time rather than of records also suits batch routes, whose records
# are taken several times faster.
_TAKE_SLICE = 0.0005
_ROOM_WAIT = 0.005  # seconds between looks at a nearly full window
# Seconds a full window may last before the partitions pause.  Waiting costs nothing
# (librdkafka keeps its bounded prefetch), while a pause drops the prefetched records and a
# resume restarts fetching (~0.3 s on the test broker, enough to starve a busy bridge), so
# pausing is kept for a window that stays full: an outage or a stuck key, not a slow receiver.
_FULL_GRACE = 1.0
# A commit after a drain (revocation, shutdown) gets its own time to get through a
# rebalance in progress, not what is left of the drain's.
_COMMIT_DEADLINE = 10.0
_COMMIT_RETRY = 0.2
# Offsets held (``held_max``) when not set: a multiple of the window.  An offset held is
# an int in a deque (≈ 40 bytes with its slot): 10 x the default window is about 2 MB.
HELD_PER_WINDOW = 10
_OBSERVE_EVERY = 1.0  # seconds between refreshes of the progress clock and age metric
_JOIN_NOTE_EVERY = 5.0  # seconds between two "waiting to join" lines
_SESSION_TIMEOUT_MS = 45_000  # librdkafka's default session.timeout.ms
_LOCAL_SESSION_TIMEOUT_MS = 6_000  # Apache Kafka's default minimum: quick joins locally
# errors that say no broker answers: Reachability reports them, librdkafka's lines show them
_UNREACHABLE_ERRORS = (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)

Callback = Callable[[Any, list[TopicPartition]], None]


class KafkaConsumer(CommitConsumer, Protocol):
    """The consumer calls the loop makes (``commit`` the committer's): confluent-kafka's
    ``Consumer``, or a fake."""

    def subscribe(
        self,
        topics: list[str],
        on_assign: Callback | None = None,
        on_revoke: Callback | None = None,
        on_lost: Callback | None = None,
    ) -> None: ...

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]: ...

    def poll(self, timeout: float = -1) -> Message | None: ...

    def assignment(self) -> list[TopicPartition]: ...

    def assign(self, partitions: list[TopicPartition]) -> None: ...

    def incremental_assign(self, partitions: list[TopicPartition]) -> None: ...

    def pause(self, partitions: list[TopicPartition]) -> None: ...

    def resume(self, partitions: list[TopicPartition]) -> None: ...

    def seek(self, partition: TopicPartition) -> None: ...

    def close(self) -> None: ...


ConsumerFactory = Callable[[dict[str, Any]], KafkaConsumer]


def consumer_config(bootstrap: str, group_id: str, properties: dict[str, Any]) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "enable.partition.eof": False,
        "client.id": "kafkahooks",
    }
    conf.update(properties)
    # Offsets are ours: committed explicitly from the tracker, never automatically.
    conf.update(
        {"group.id": group_id, "enable.auto.commit": False, "enable.auto.offset.store": False}
    )
    return with_logger(conf)  # librdkafka's lines through kafkahooks' logger


def _keys(partitions: list[TopicPartition]) -> list[TopicPartitionKey]:
    return [(p.topic, p.partition) for p in partitions]


def _names(tps: list[TopicPartitionKey]) -> list[str]:
    return [f"{t}/{p}" for t, p in tps]


def _cooperative(conf: dict[str, Any]) -> bool:
    """Incremental assignment: cooperative-sticky, or the KIP-848 consumer protocol."""
    strategy = str(conf.get("partition.assignment.strategy", ""))
    return "cooperative" in strategy or str(conf.get("group.protocol", "")) == "consumer"


class ConsumerLoop:
    def __init__(
        self,
        conf: dict[str, Any],
        topics: list[str],
        pipeline: Processor,
        tracker: OffsetTracker,
        *,
        batch: int,
        window: int,
        drain_timeout: float,
        commit_interval: float,
        commit_every: int,
        consumer_factory: ConsumerFactory = Consumer,
        reach: Reachability | None = None,
        held_max: int | None = None,
        progress: ProgressStore | None = None,
    ) -> None:
        self.group = str(conf["group.id"])
        # shared by a process's members: "cannot reach Kafka" is said once, not per group
        self._reach = reach or Reachability(str(conf.get("bootstrap.servers", "")))
        self._session_timeout_ms = int(conf.get("session.timeout.ms", _SESSION_TIMEOUT_MS))
        conf = with_logger(
            {
                "statistics.interval.ms": 5000,
                **conf,
                "stats_cb": self._on_stats,
                "on_commit": self._on_commit,
                "error_cb": self._on_error,
            }
        )
        self._cooperative = _cooperative(conf)
        self._consumer: KafkaConsumer = consumer_factory(conf)
        self._committer = Committer(
            self._consumer, tracker, commit_interval, commit_every, self.group, progress
        )
        self._progress = progress
        self._skipping = tracker.skipping  # the same set: looked at for every record
        self._topics = topics
        self._pipeline = pipeline
        self._tracker = tracker
        if offsets.CHECK_THREADS:  # tests: the tracker is the event loop's alone
            tracker.check_thread()
        self._batch = batch
        self._window = window
        self._held_max = held_max or HELD_PER_WINDOW * window
        self._drain_timeout = drain_timeout
        self._kafka = ThreadPoolExecutor(1, thread_name_prefix="kafkahooks-kafka")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused = False
        self._full_since: float | None = None
        # partitions holding a parked record that is not due yet → when it is
        self._deferred: dict[TopicPartitionKey, float] = {}
        # what this member owns, for the Kafka thread's statistics callback (a snapshot)
        self._owned: frozenset[TopicPartitionKey] = frozenset()
        self._stopping = asyncio.Event()
        self._resubscribe: list[str] | None = None
        self._last_warning: dict[str, float] = {}
        self.joined = False  # set by the first assignment, even an empty one
        self._subscribed_at = time.monotonic()
        self._join_noted = 0.0  # when the last "waiting to join" line was written
        self._fatal_error: KafkaError | None = None  # from the error callback
        self._missing_topic: str | None = None  # why the group is not joined, if known
        self.last_poll = time.monotonic()
        # the last moment this member made progress or had nothing waiting (health)
        self.progress_at = time.monotonic()
        self._progress_mark = (-1, -1)
        self._observed = 0.0

    @property
    def commits(self) -> int:
        return self._committer.commits

    @property
    def commit_failures(self) -> int:
        return self._committer.failures

    def stop(self) -> None:
        self._stopping.set()

    def subscribe(self, topics: list[str]) -> None:
        """Change the subscription (hot reload); applied by the loop between polls."""
        if topics != self._topics:
            self._resubscribe = topics

    @property
    def unreachable_since(self) -> float | None:
        """Unix time since when no broker answers, or ``None`` (readiness)."""
        return self._reach.since

    def stalled_for(self, now: float) -> float:
        """Seconds without progress while records wait, or without a poll (health).

        Progress is an event finished, an attempt started, or a delivery task alive:
        waiting on a receiver (an attempt within its timeout, a backoff, an open circuit)
        is progress, not a stall."""
        return max(now - self.progress_at, now - self.last_poll)

    def _on_commit(self, error: Any, partitions: list[TopicPartition]) -> None:
        """The answer to an asynchronous commit (Kafka thread): the loop applies it."""
        self._committer.on_commit(error, partitions)

    # -- rebalance callbacks: run on the kafka thread ------------------------
    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        # Assign before pausing: librdkafka applies the assignment after this callback
        # returns, and a pause of a partition it does not hold yet is ignored.
        if partitions:
            if self._cooperative:
                self._consumer.incremental_assign(partitions)
            else:
                self._consumer.assign(partitions)
            if self._paused:  # new partitions join the paused state
                self._consumer.pause(partitions)
            else:  # librdkafka keeps a pause across revoke and re-assign: drop it
                self._consumer.resume(partitions)  # (revoked while deferred; hot reload)
        tps = _keys(partitions)
        self._on_loop(self._assigned(tps, self._load_progress(tps)))
        self._reach.reachable()  # the group answered
        log.info("partitions assigned", extra=self._rebalance_fields(tps))
        self.joined = True

    def _load_progress(self, tps: list[TopicPartitionKey]) -> dict[TopicPartitionKey, Progress]:
        """The progress records of newly assigned sparse partitions (Kafka thread, before
        any of their records is taken).  Unreadable: nothing is skipped (duplicates
        possible, nothing lost)."""
        sparse = [tp for tp in tps if self._tracker.is_sparse(tp)]
        if self._progress is None or not sparse:
            return {}
        try:
            return self._progress.load(self.group, sparse)
        except KafkahooksError as exc:  # StoreError
            METRICS.progress_failures.labels(self.group).inc()
            log.error(
                "progress not read: events finished by the previous owner above the "
                "committed offset may be delivered again",
                extra={"group": self.group, "error": str(exc), "partitions": _names(sparse)},
            )
            return {}

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        tps = _keys(partitions)
        if not tps:
            return
        drained, positions, progress = self._on_loop(self._release(tps, self._drain_timeout))
        self._committer.write_progress(progress)
        self._commit_released(positions)
        log.info("partitions revoked", extra={**self._rebalance_fields(tps), "drained": drained})

    def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        tps = _keys(partitions)
        self._on_loop(self._release(tps, 0))  # another member owns them: commit nothing
        log.warning("partitions lost", extra=self._rebalance_fields(tps))

    def _rebalance_fields(self, tps: list[TopicPartitionKey]) -> dict[str, Any]:
        """What an assigned/revoked/lost line says: group, partitions, time since subscribe."""
        since = round(time.monotonic() - self._subscribed_at, 2)
        return {"group": self.group, "partitions": _names(tps), "since_subscribe_s": since}

    def _on_error(self, error: KafkaError) -> None:
        """librdkafka's client-level errors (Kafka thread, inside ``consume()``)."""
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._reach.unreachable(error.str())
        elif error.fatal():
            self._fatal_error = error  # the loop raises it
        elif error.code() not in _UNREACHABLE_ERRORS:  # those: librdkafka's own lines
            self._warn_once(error.str())

    def _on_loop(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the event loop and wait for it (Kafka thread only)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def _commit_released(self, positions: dict[TopicPartitionKey, int]) -> None:
        """Commit what a revoked partition finished.  A rebalance in progress refuses it
        for a moment: try again until the commit's own deadline (inside this callback the
        group cannot move on, so a stale generation is final)."""
        deadline = time.monotonic() + _COMMIT_DEADLINE
        while True:
            try:
                self._committer.commit_sync(positions, mode="revoke")
                return
            except KafkaException as exc:
                if not _code_in(exc, KafkaError.REBALANCE_IN_PROGRESS):
                    return  # logged and counted by the committer
                if time.monotonic() >= deadline:
                    log.error("commit on revoke gave up", extra={"error": str(exc)})
                    return
                log.info("commit on revoke waits for a rebalance", extra={"error": str(exc)})
            time.sleep(_COMMIT_RETRY)

    # -- the loop's side of rebalances ------------------------------------------
    async def _assigned(
        self, tps: list[TopicPartitionKey], progress: dict[TopicPartitionKey, Progress]
    ) -> None:
        self._tracker.assign(tps)
        for tp, entry in progress.items():
            self._tracker.load_progress(tp, entry)
        self._pipeline.reset(tps)  # counts start again
        self._owned = frozenset(self._tracker.assigned)

    async def _release(
        self, tps: list[TopicPartitionKey], timeout: float
    ) -> tuple[bool, dict[TopicPartitionKey, int], ProgressEntries]:
        """Drain, then take the commit snapshot and forget the partitions, all on the
        loop: the drain's finishes and the window counter stay on one thread."""
        drained = await self._pipeline.drain(tps, timeout)
        positions = self._tracker.positions(tps, force=True)
        progress = self._committer.progress(tps)
        self._tracker.revoke(tps)
        self._pipeline.reset(tps)
        self._owned = frozenset(self._tracker.assigned)
        for tp in tps:
            self._deferred.pop(tp, None)
            with contextlib.suppress(KeyError):
                METRICS.oldest_unfinished.remove(self.group, tp[0], str(tp[1]))
        return drained, positions, progress

    # -- the loop -------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._call(self._subscribe)
        try:
            # a halt (engine/halt.py) ends the loop before its next poll
            while not self._stopping.is_set() and self._pipeline.fatal is None:
                if self._room_is_short():
                    await asyncio.sleep(_ROOM_WAIT)  # let deliveries make room: no tiny polls
                else:
                    await self._poll()
                if self._fatal_error is not None:
                    raise KafkaException(self._fatal_error)
                if self._resubscribe is not None:
                    self._topics, self._resubscribe = self._resubscribe, None
                    await self._call(self._subscribe)
                if self._pause_changes():
                    await self._set_paused(not self._paused)
                if self._deferred:
                    await self._undefer()
                if self._committer.answered:
                    self._committer.settle()
                positions, progress = self._committer.take()
                if positions or progress:
                    await self._call(self._committer.send, positions, progress)
                self._observe()
        finally:
            await self._shutdown()

    def _warn_once(self, text: str) -> None:
        """A broker outage reports the same error on every poll: log it once a minute."""
        now = time.monotonic()
        if self._last_warning.get(text, -60.0) + 60 <= now:
            self._last_warning[text] = now
            log.warning("consumer error", extra={"group": self.group, "error": text})

    def _room(self) -> int:
        """Records that may be taken now: room in the window and under ``held_max``."""
        tracker = self._tracker
        return min(self._window - tracker.outstanding, self._held_max - tracker.kept)

    async def _poll(self) -> None:
        # never take more than the window has room for
        room = max(1, min(self._batch, self._room()))
        messages = await self._call(self._consumer.consume, room, _POLL_TIMEOUT)
        self.last_poll = self._tracker.clock = time.monotonic()
        # partitions to read again from an offset: parked records not due, and records
        # this member may not hold now (paused, or beyond the window)
        back: dict[TopicPartitionKey, int] = {}
        # Paused, or a poll of one record with the window full: nothing of it may be held.
        # Otherwise the poll asked for no more than the window has room for.
        limited = self._paused or self._room() <= 0
        clock = time.perf_counter
        turn = clock() + _TAKE_SLICE
        for message in messages:
            self._take(message, back, limited)
            if clock() >= turn:
                await asyncio.sleep(0)  # let answers in between: they wait for the loop
                turn = clock() + _TAKE_SLICE
        if back:
            pause = [tp for tp in back if self._paused or tp in self._deferred]
            await self._call(self._give_back, back, pause)

    def _take(self, message: Message, back: dict[TopicPartitionKey, int], limited: bool) -> None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise KafkaException(error)
            if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART and not self.joined:
                self._missing_topic = error.str()  # no join until a subscribed topic exists
            self._warn_once(error.str())
            return
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None
        tp = (topic, partition)
        last = self._tracker.last_begun(tp)
        if last is None or tp in back:
            return  # fetched before a revoke, or behind a record given back in this poll
        if offset <= last:  # a redelivery of an event in hand: it is never begun twice
            self._warn_once(f"{topic}/{partition}: offset {offset} again, after {last}")
            return
        if limited or tp in self._deferred:
            back[tp] = offset  # not ours to hold now: read it again later
            return
        if self._skipping and tp in self._skipping and self._tracker.skip(tp, offset):
            self._skipped(tp, offset)  # a previous owner finished it
            return
        _, ts = message.timestamp()
        headers = message.headers() or []
        if isinstance(headers, dict):
            headers = list(headers.items())
        # positional: this runs for every record
        event = Event(topic, partition, offset, ts, message.key(), message.value(), headers)
        due = self._pipeline.accept(event)
        if due is not None:  # read it again once it is due
            self._deferred[tp] = due
            back[tp] = offset

    def _skipped(self, tp: TopicPartitionKey, offset: int) -> None:
        METRICS.skipped_finished.labels(self.group).inc()
        log.debug(
            "record finished by a previous owner: not delivered again",
            extra={"group": self.group, "partition": f"{tp[0]}/{tp[1]}", "offset": offset},
        )

    def _give_back(
        self, back: dict[TopicPartitionKey, int], pause: list[TopicPartitionKey]
    ) -> None:
        if pause:
            self._consumer.pause([TopicPartition(t, p) for t, p in pause])
        for (topic, partition), offset in back.items():
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:  # revoked meanwhile: its next owner reads it
                log.debug(
                    "seek failed", extra={"partition": f"{topic}/{partition}", "error": str(exc)}
                )

    def _room_is_short(self) -> bool:
        """The window is (nearly) full: wait a moment for room rather than take a few
        records per poll (each poll is a thread hand-off) or pause at once (a resume
        restarts fetching).  Full for longer than _FULL_GRACE: pause, and poll paused
        (rebalance callbacks wait at most that long)."""
        if self._paused:
            return False
        if self._room() >= max(1, min(self._batch, self._window // 4)):
            self._full_since = None
            return False
        now = time.monotonic()
        if self._full_since is None:
            self._full_since = now
        return now - self._full_since < _FULL_GRACE

    def _pause_changes(self) -> bool:
        outstanding, kept = self._tracker.outstanding, self._tracker.kept
        METRICS.window.labels(self.group).set(outstanding)
        METRICS.offsets_held.labels(self.group).set(kept)
        if self._paused:
            return outstanding <= self._window // 2 and kept <= self._held_max // 2
        full_since = self._full_since
        return full_since is not None and time.monotonic() - full_since >= _FULL_GRACE

    def _subscribe(self) -> None:
        self._consumer.subscribe(
            self._topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self._subscribed_at = time.monotonic()
        log.info("subscribed", extra={"group": self.group, "topics": self._topics})
        if not self.joined:
            self._note_join(self._subscribed_at)

    def _note_join(self, now: float) -> None:
        """Say why nothing happens yet: the group join (unless no broker answers at all,
        which :class:`Reachability` has said)."""
        self._join_noted = now
        if self._reach.since is not None:
            return
        timeout, waited = self._session_timeout_ms, now - self._subscribed_at
        text = (
            f"waiting to join consumer group {self.group}"
            if waited < 1
            else f"still waiting to join consumer group {self.group} after {waited:.0f} s"
        )
        text += (
            ": the first assignment can take about half of session.timeout.ms"
            f" ({timeout} ms here, so ~{timeout / 2000:.0f} s)"
        )
        if self._missing_topic is not None:
            text += f"; and no subscribed topic is there yet ({self._missing_topic})"
        elif timeout > _LOCAL_SESSION_TIMEOUT_MS:
            text += (
                "; for local development set kafka.properties"
                f" session.timeout.ms: {_LOCAL_SESSION_TIMEOUT_MS}"
            )
        fields = {"group": self.group, "session_timeout_ms": timeout}
        log.info(text, extra={**fields, "waited_s": round(waited, 1)})

    async def _undefer(self) -> None:
        now = time.time()
        due = [tp for tp, when in self._deferred.items() if when <= now]
        for tp in due:
            del self._deferred[tp]
        if due and not self._paused:
            await self._call(self._consumer.resume, [TopicPartition(t, p) for t, p in due])

    def _on_stats(self, raw: str) -> None:
        """librdkafka statistics (Kafka thread): per-partition consumer lag."""
        try:
            stats = json.loads(raw)
        except ValueError:
            return
        if any(b.get("state") == "UP" for b in stats.get("brokers", {}).values()):
            self._reach.reachable()
        owned = self._owned
        for topic, tstats in stats.get("topics", {}).items():
            for partition, pstats in tstats.get("partitions", {}).items():
                lag = pstats.get("consumer_lag", -1)
                if partition != "-1" and lag >= 0 and (topic, int(partition)) in owned:
                    METRICS.lag.labels(self.group, topic, partition).set(lag)

    async def _set_paused(self, paused: bool) -> None:
        deferred = frozenset(self._deferred)
        held = await self._call(self._pause_all if paused else self._resume_all, deferred)
        self._paused = paused
        METRICS.paused.labels(self.group).set(held if paused else 0)
        log.debug(
            "partitions paused" if paused else "partitions resumed",
            extra={"outstanding": self._tracker.outstanding},
        )

    def _pause_all(self, deferred: frozenset[TopicPartitionKey]) -> int:
        assignment = self._consumer.assignment()
        self._consumer.pause(assignment)
        return len(assignment)

    def _resume_all(self, deferred: frozenset[TopicPartitionKey]) -> int:
        # partitions waiting for a parked record stay paused
        assignment = self._consumer.assignment()
        self._consumer.resume([p for p in assignment if (p.topic, p.partition) not in deferred])
        return len(assignment)

    def _observe(self) -> None:
        """Once a second: the age of each partition's oldest unfinished event, and the
        progress clock behind /healthz."""
        now = time.monotonic()
        if now - self._observed < _OBSERVE_EVERY:
            return
        self._observed = now
        if not self.joined and now - self._join_noted >= _JOIN_NOTE_EVERY:
            self._note_join(now)
        for (topic, partition), age in self._tracker.oldest_unfinished(now).items():
            METRICS.oldest_unfinished.labels(self.group, topic, str(partition)).set(age)
        attempts, busy = self._pipeline.activity()
        mark = (self._tracker.finished_total, attempts)
        if mark != self._progress_mark or self._tracker.outstanding == 0 or busy:
            self._progress_mark = mark
            self.progress_at = now

    async def _shutdown(self) -> None:
        tps = self._tracker.assigned
        drained = await self._pipeline.drain(
            tps, 0 if self._pipeline.fatal else self._drain_timeout
        )
        if self._committer.answered:
            self._committer.settle()
        await self._final_commit(time.monotonic() + _COMMIT_DEADLINE)
        await self._release(self._tracker.assigned, 0)
        await self._call(self._consumer.close)
        self._kafka.shutdown(wait=True)
        log.info("consumer closed", extra={"drained": drained})

    async def _final_commit(self, deadline: float) -> None:
        """Commit what finished, with a deadline of its own (not the drain's).  When
        another member joins or leaves at the same moment, the commit fails with a stale
        generation or a rebalance in progress: serve the rebalance and try again until
        ``deadline``, or the next owner redoes events that were finished here."""
        progress = self._committer.progress(self._tracker.assigned)
        if progress:  # once, before the first try: it names finished offsets only
            await self._call(self._committer.write_progress, progress)
        while True:
            positions = self._tracker.positions(self._tracker.assigned, force=True)
            try:
                await self._call(self._committer.commit_sync, positions, "final")
                return
            except KafkaException as exc:
                if not _rebalancing(exc) or time.monotonic() >= deadline:
                    log.error("final commit failed", extra={"error": str(exc)})
                    return
                log.info("final commit waits for a rebalance", extra={"error": str(exc)})
            # runs the rebalance callbacks; a record it returns is not taken: we are stopping
            await self._call(self._consumer.poll, _COMMIT_RETRY)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._loop is not None
        return await self._loop.run_in_executor(self._kafka, fn, *args)


def _code_in(exc: KafkaException, *codes: int) -> bool:
    err = exc.args[0] if exc.args else None
    return isinstance(err, KafkaError) and err.code() in codes


def _rebalancing(exc: KafkaException) -> bool:
    """A commit refused because the group is moving to a new generation."""
    return _code_in(exc, KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS)
