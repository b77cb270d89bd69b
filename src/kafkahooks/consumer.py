"""The Kafka loop: poll in batches, hand records to the pipeline, backpressure,
rebalances, shutdown.

All consumer calls happen on one thread (``_kafka``), one at a time, so the
librdkafka handle is never used concurrently.  Rebalance callbacks run on
that thread inside ``consume()``; they hand the drain to the event loop and
wait for it, then commit synchronously.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from kafkahooks.commits import Committer
from kafkahooks.event import Event
from kafkahooks.metrics import METRICS
from kafkahooks.offsets import OffsetTracker, TopicPartitionKey
from kafkahooks.pipeline import Pipeline

__all__ = ["ConsumerLoop", "consumer_config"]

log = logging.getLogger("kafkahooks.consumer")

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
    return conf


def _keys(partitions: list[TopicPartition]) -> list[TopicPartitionKey]:
    return [(p.topic, p.partition) for p in partitions]


class ConsumerLoop:
    def __init__(
        self,
        conf: dict[str, Any],
        topics: list[str],
        pipeline: Pipeline,
        tracker: OffsetTracker,
        *,
        batch: int,
        window: int,
        drain_timeout: float,
        commit_interval: float,
        commit_every: int,
    ) -> None:
        self.group = str(conf["group.id"])
        conf = {"statistics.interval.ms": 5000, **conf, "stats_cb": self._on_stats}
        self._consumer = Consumer(conf)
        self._topics = topics
        self._pipeline = pipeline
        self._tracker = tracker
        self._batch = batch
        self._window = window
        self._drain_timeout = drain_timeout
        self._committer = Committer(self._consumer, tracker, commit_interval, commit_every)
        self._kafka = ThreadPoolExecutor(1, thread_name_prefix="kafkahooks-kafka")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused = False
        self._full_since: float | None = None
        # partitions holding a parked record that is not due yet → when it is
        self._deferred: dict[TopicPartitionKey, float] = {}
        self._stopping = asyncio.Event()
        self._resubscribe: list[str] | None = None
        self._last_warning: dict[str, float] = {}
        self.joined = False  # set by the first assignment, even an empty one
        self.last_poll = time.monotonic()

    @property
    def commits(self) -> int:
        return self._committer.commits

    def stop(self) -> None:
        self._stopping.set()

    def subscribe(self, topics: list[str]) -> None:
        """Change the subscription (hot reload); applied by the loop between polls."""
        if topics != self._topics:
            self._resubscribe = topics

    # -- rebalance callbacks: run on the kafka thread ------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._tracker.assign(_keys(partitions))
        if self._paused and partitions:  # new partitions join the paused state
            consumer.pause(partitions)
        elif partitions:  # librdkafka keeps a pause across revoke and re-assign: drop it
            consumer.resume(partitions)  # (a partition revoked while deferred, hot reload)
        log.info(
            "partitions assigned", extra={"partitions": [f"{t}/{p}" for t, p in _keys(partitions)]}
        )
        self.joined = True

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = _keys(partitions)
        if not tps:
            return
        assert self._loop is not None
        drained = asyncio.run_coroutine_threadsafe(
            self._pipeline.drain(tps, self._drain_timeout), self._loop
        ).result()
        try:
            self._committer.commit_sync(tps)
        except KafkaException as exc:
            log.error("commit on revoke failed", extra={"error": str(exc)})
        self._tracker.revoke(tps)
        for tp in tps:
            self._deferred.pop(tp, None)
        log.info(
            "partitions revoked",
            extra={"partitions": [f"{t}/{p}" for t, p in tps], "drained": drained},
        )

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = _keys(partitions)
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._pipeline.drain(tps, 0), self._loop).result()
        self._tracker.revoke(tps)
        for tp in tps:
            self._deferred.pop(tp, None)
        log.warning("partitions lost", extra={"partitions": [f"{t}/{p}" for t, p in tps]})

    # -- the loop -------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._call(self._subscribe)
        try:
            while not self._stopping.is_set() and self._pipeline.fatal is None:
                if self._room_is_short():
                    await asyncio.sleep(_ROOM_WAIT)  # let deliveries make room: no tiny polls
                else:
                    await self._poll()
                if self._resubscribe is not None:
                    self._topics, self._resubscribe = self._resubscribe, None
                    await self._call(self._subscribe)
                if self._pause_changes():
                    await self._call(self._set_paused, not self._paused)
                if self._deferred:
                    await self._call(self._undefer)
                if self._committer.due():
                    await self._call(self._committer.maybe_commit)
        finally:
            await self._shutdown()

    def _warn_once(self, text: str) -> None:
        """A broker outage reports the same error on every poll: log it once a minute."""
        now = time.monotonic()
        if self._last_warning.get(text, -60.0) + 60 <= now:
            self._last_warning[text] = now
            log.warning("consumer error", extra={"group": self.group, "error": text})

    async def _poll(self) -> None:
        # never take more than the window has room for
        room = max(1, min(self._batch, self._window - self._tracker.outstanding))
        messages = await self._call(self._consumer.consume, room, _POLL_TIMEOUT)
        self.last_poll = time.monotonic()
        seek: list[TopicPartition] = []
        clock = time.perf_counter
        turn = clock() + _TAKE_SLICE
        for message in messages:
            self._take(message, seek)
            if clock() >= turn:
                await asyncio.sleep(0)  # let answers in between: they wait for the loop
                turn = clock() + _TAKE_SLICE
        if seek:
            await self._call(self._defer, seek)

    def _room_is_short(self) -> bool:
        """The window is (nearly) full: wait a moment for room rather than take a few
        records per poll (each poll is a thread hand-off) or pause at once (a resume
        restarts fetching).  Full for longer than _FULL_GRACE: pause, and poll paused
        (rebalance callbacks wait at most that long)."""
        if self._paused:
            return False
        room = self._window - self._tracker.outstanding
        if room >= max(1, min(self._batch, self._window // 4)):
            self._full_since = None
            return False
        now = time.monotonic()
        if self._full_since is None:
            self._full_since = now
        return now - self._full_since < _FULL_GRACE

    def _pause_changes(self) -> bool:
        outstanding = self._tracker.outstanding
        METRICS.window.labels(self.group).set(outstanding)
        if self._paused:
            return outstanding <= self._window // 2
        full_since = self._full_since
        return full_since is not None and time.monotonic() - full_since >= _FULL_GRACE

    def _subscribe(self) -> None:
        self._consumer.subscribe(
            self._topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log.info("subscribed", extra={"group": self.group, "topics": self._topics})

    def _take(self, message: Message, seek: list[TopicPartition]) -> None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise KafkaException(error)
            self._warn_once(error.str())
            return
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None
        tp = (topic, partition)
        if not self._tracker.owns(tp) or tp in self._deferred:
            return  # fetched before a revoke, or behind a parked record not yet due
        _, ts = message.timestamp()
        headers = message.headers() or []
        if isinstance(headers, dict):
            headers = list(headers.items())
        # positional: this runs for every record
        event = Event(topic, partition, offset, ts, message.key(), message.value(), headers)
        due = self._pipeline.accept(event)
        if due is not None:  # read it again once it is due
            self._deferred[tp] = due
            seek.append(TopicPartition(topic, partition, offset))

    def _defer(self, seek: list[TopicPartition]) -> None:
        self._consumer.pause([TopicPartition(p.topic, p.partition) for p in seek])
        for position in seek:
            self._consumer.seek(position)

    def _undefer(self) -> None:
        now = time.time()
        due = [tp for tp, when in self._deferred.items() if when <= now]
        for tp in due:
            del self._deferred[tp]
        if due and not self._paused:
            self._consumer.resume([TopicPartition(t, p) for t, p in due])

    def _on_stats(self, raw: str) -> None:
        """librdkafka statistics: per-partition consumer lag for the metrics."""
        try:
            stats = json.loads(raw)
        except ValueError:
            return
        for topic, tstats in stats.get("topics", {}).items():
            for partition, pstats in tstats.get("partitions", {}).items():
                lag = pstats.get("consumer_lag", -1)
                if partition != "-1" and lag >= 0 and self._tracker.owns((topic, int(partition))):
                    METRICS.lag.labels(self.group, topic, partition).set(lag)

    def _set_paused(self, paused: bool) -> None:
        assignment = self._consumer.assignment()
        if paused:
            self._consumer.pause(assignment)
        else:  # partitions waiting for a parked record stay paused
            waiting = [p for p in assignment if (p.topic, p.partition) not in self._deferred]
            self._consumer.resume(waiting)
        self._paused = paused
        METRICS.paused.labels(self.group).set(len(assignment) if paused else 0)
        log.debug(
            "partitions paused" if paused else "partitions resumed",
            extra={"outstanding": self._tracker.outstanding},
        )

    async def _shutdown(self) -> None:
        tps = self._tracker.assigned
        deadline = time.monotonic() + self._drain_timeout
        drained = await self._pipeline.drain(
            tps, 0 if self._pipeline.fatal else self._drain_timeout
        )
        await self._final_commit(deadline)
        self._tracker.revoke(self._tracker.assigned)
        await self._call(self._consumer.close)
        self._kafka.shutdown(wait=True)
        log.info("consumer closed", extra={"drained": drained})

    async def _final_commit(self, deadline: float) -> None:
        """Commit what finished.  When another member joins or leaves at the same moment,
        the commit fails with a stale generation: serve the rebalance and try again until
        ``deadline``, or the next owner redoes events that were finished here."""
        while True:
            try:
                await self._call(self._committer.commit_sync, self._tracker.assigned)
                return
            except KafkaException as exc:
                if not _rebalancing(exc) or time.monotonic() >= deadline:
                    log.error("final commit failed", extra={"error": str(exc)})
                    return
                log.info("final commit waits for a rebalance", extra={"error": str(exc)})
            # runs the rebalance callbacks; a record it returns is not taken: we are stopping
            await self._call(self._consumer.poll, 0.2)

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        assert self._loop is not None
        return await self._loop.run_in_executor(self._kafka, lambda: fn(*args, **kwargs))


def _rebalancing(exc: KafkaException) -> bool:
    """A commit refused because the group is moving to a new generation."""
    err = exc.args[0] if exc.args else None
    codes = (KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS)
    return isinstance(err, KafkaError) and err.code() in codes


def is_fatal(error: KafkaError) -> bool:
    return bool(error.fatal())
