"""An in-memory Kafka for the consumer loop's unit tests (as arroyo tests its processor
with a local broker): a cluster of partition logs and committed offsets, and one
consumer-group member whose rebalances the test scripts.

The fake keeps the librdkafka behaviours the loop depends on:

* rebalance callbacks run inside ``consume()``/``poll()``, on the calling thread;
* an assignment is applied after ``on_assign`` returns, unless the callback assigned
  (``incremental_assign`` in cooperative mode, ``assign`` otherwise) itself;
* ``pause()`` of a partition not yet assigned is ignored (so a pause inside ``on_assign``
  before the assignment does nothing, as the real client does);
* paused partitions return nothing; ``seek()`` moves a partition's next fetch;
* asynchronous commits are answered through ``on_commit`` at a later ``consume()``;
  synchronous commits answer at once and call no callback;
* ``close()`` revokes what is assigned through ``on_revoke``.

Failures are scripted too: the next asynchronous or synchronous commits can be refused
with a given error code.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

__all__ = ["FakeCluster", "FakeConsumer"]

TP = tuple[str, int]
Callback = Callable[[Any, list[TopicPartition]], None]


class FakeCluster:
    """Partition logs and the group's committed offsets (one group)."""

    def __init__(self) -> None:
        self.logs: dict[TP, list[Message]] = {}
        self.committed: dict[TP, int] = {}
        self.consumers: list[FakeConsumer] = []

    def create(self, topic: str, partitions: int = 1) -> None:
        for p in range(partitions):
            self.logs.setdefault((topic, p), [])

    def produce(
        self, topic: str, value: bytes, key: bytes | None = None, partition: int = 0
    ) -> int:
        log = self.logs.setdefault((topic, partition), [])
        offset = len(log)
        log.append(
            Message(
                topic=topic, partition=partition, offset=offset, key=key, value=value,
                headers=[], timestamp=(1, 1_700_000_000_000 + offset),
            )
        )  # fmt: skip
        return offset

    def partitions(self, topics: Iterable[str]) -> list[TP]:
        wanted = set(topics)
        return sorted(tp for tp in self.logs if tp[0] in wanted)

    def factory(self, **options: Any) -> Callable[[dict[str, Any]], FakeConsumer]:
        def make(conf: dict[str, Any]) -> FakeConsumer:
            consumer = FakeConsumer(self, conf, **options)
            self.consumers.append(consumer)
            return consumer

        return make


class FakeConsumer:
    def __init__(self, cluster: FakeCluster, conf: dict[str, Any], auto_assign: bool = True):
        self.cluster = cluster
        self.conf = conf
        strategy = str(conf.get("partition.assignment.strategy", ""))
        self.cooperative = "cooperative" in strategy
        self.auto_assign = auto_assign
        self.on_commit: Callable[[Any, list[TopicPartition]], None] | None = conf.get("on_commit")
        self.positions: dict[TP, int] = {}  # the assignment and each partition's next fetch
        self.paused: set[TP] = set()
        self.topics: list[str] = []
        self.callbacks: dict[str, Callback | None] = {}
        self._script: deque[tuple[str, list[TP]]] = deque()
        self._answers: deque[tuple[KafkaError | None, list[TopicPartition]]] = deque()
        self._assigned_in_callback = False
        self.async_failures: deque[int] = deque()  # error codes for the next async commits
        self.sync_failures: deque[int] = deque()  # error codes for the next sync commits
        self.commits: list[tuple[str, dict[TP, int]]] = []  # every commit the broker took
        self.seeks: list[tuple[TP, int]] = []
        self.threads: set[str] = set()  # names of the threads that called this consumer
        self.closed = False

    # -- scripting (any thread; applied at the next consume, like a broker's event) --------
    def rebalance(self, assign: Iterable[TP] = (), revoke: Iterable[TP] = ()) -> None:
        if revoke := list(revoke):
            self._script.append(("revoke", revoke))
        if assign := list(assign):
            self._script.append(("assign", assign))

    def lose(self, tps: Iterable[TP]) -> None:
        self._script.append(("lost", list(tps)))

    @property
    def assigned(self) -> set[TP]:
        return set(self.positions)

    # -- the consumer interface --------------------------------------------------------
    def subscribe(
        self,
        topics: list[str],
        on_assign: Callback | None = None,
        on_revoke: Callback | None = None,
        on_lost: Callback | None = None,
    ) -> None:
        self._seen()
        self.topics = list(topics)
        self.callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}
        if self.auto_assign:
            fresh = [tp for tp in self.cluster.partitions(topics) if tp not in self.positions]
            self._script.append(("assign", fresh))

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        self._seen()
        self._serve()
        out: list[Message] = []
        for tp in sorted(self.positions):
            if tp in self.paused:
                continue
            log = self.cluster.logs.get(tp, [])
            position = self.positions[tp]
            while position < len(log) and len(out) < num_messages:
                out.append(log[position])
                position += 1
            self.positions[tp] = position
        if not out and timeout > 0:
            time.sleep(min(timeout, 0.005))
        return out

    def poll(self, timeout: float = -1) -> Message | None:
        found = self.consume(1, timeout)
        return found[0] if found else None

    def assignment(self) -> list[TopicPartition]:
        self._seen()
        return [TopicPartition(t, p) for t, p in sorted(self.positions)]

    def assign(self, partitions: list[TopicPartition]) -> None:
        self._seen()
        self._assigned_in_callback = True
        self.positions = {}
        self.paused.clear()
        self._add(partitions)

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        self._seen()
        self._assigned_in_callback = True
        self._add(partitions)

    def pause(self, partitions: list[TopicPartition]) -> None:
        self._seen()
        # like librdkafka: a partition not in the assignment (yet) is not paused
        self.paused |= {(p.topic, p.partition) for p in partitions} & self.assigned

    def resume(self, partitions: list[TopicPartition]) -> None:
        self._seen()
        self.paused -= {(p.topic, p.partition) for p in partitions}

    def seek(self, partition: TopicPartition) -> None:
        self._seen()
        tp = (partition.topic, partition.partition)
        if tp not in self.positions:
            raise KafkaException(KafkaError(KafkaError._STATE))
        self.positions[tp] = partition.offset
        self.seeks.append((tp, partition.offset))

    def commit(
        self, *, offsets: list[TopicPartition], asynchronous: bool = True
    ) -> list[TopicPartition] | None:
        self._seen()
        positions = {(p.topic, p.partition): p.offset for p in offsets}
        failures = self.async_failures if asynchronous else self.sync_failures
        if failures:
            error = KafkaError(failures.popleft())
            if not asynchronous:
                raise KafkaException(error)
            self._answers.append((error, offsets))
            return None
        self.cluster.committed.update(positions)
        self.commits.append(("async" if asynchronous else "sync", positions))
        if asynchronous:
            self._answers.append((None, offsets))
            return None
        return offsets

    def close(self) -> None:
        self._seen()
        if self.positions:
            self._run("revoke", sorted(self.positions))
        self.closed = True

    # -- internals ---------------------------------------------------------------------
    def _seen(self) -> None:
        self.threads.add(threading.current_thread().name)

    def _add(self, partitions: list[TopicPartition]) -> None:
        for p in partitions:
            tp = (p.topic, p.partition)
            self.positions.setdefault(tp, self.cluster.committed.get(tp, 0))

    def _serve(self) -> None:
        while self._script:
            kind, tps = self._script.popleft()
            self._run(kind, tps)
        while self._answers:
            error, offsets = self._answers.popleft()
            if self.on_commit is not None:
                self.on_commit(error, offsets)

    def _run(self, kind: str, tps: list[TP]) -> None:
        partitions = [TopicPartition(t, p) for t, p in tps]
        callback = self.callbacks.get(kind)
        self._assigned_in_callback = False
        if callback is not None:
            callback(self, partitions)
        if kind == "assign":
            if not self._assigned_in_callback:  # what confluent-kafka does after the callback
                self._add(partitions)
            return
        for tp in tps:  # revoked or lost: gone after the callback
            self.positions.pop(tp, None)
            self.paused.discard(tp)
