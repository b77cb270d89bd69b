"""The consumer loop with the sparse window (topics of routes with ``endpoints:``), on the
in-memory Kafka: a stuck event does not pause anyone, ``held_max`` still bounds memory, the
finished offsets above a commit go to the progress store first, and a new owner skips what
a previous one finished."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.sender import Response
from kafkahooks.kafka.commits import ProgressEntries
from kafkahooks.kafka.offsets import TopicPartitionKey
from kafkahooks.kafka.progress import Progress
from kafkahooks.kafka.storelog import StoreWriteError
from kafkahooks.telemetry.metrics import METRICS
from tests.support.fakekafka import FakeCluster
from tests.support.member import FakeReceiver, LoopMember, route, until

A = ("calls", 0)
SPARSE = frozenset({"calls"})


def _run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def _produce(cluster: FakeCluster, ids: range) -> None:
    for i in ids:
        cluster.produce("calls", json.dumps({"id": i}).encode(), key=f"k{i}".encode())


class FakeProgress:
    """A progress store in memory: what was written, by group and partition."""

    def __init__(self, records: dict[TopicPartitionKey, Progress] | None = None) -> None:
        self.records: dict[TopicPartitionKey, Progress] = dict(records or {})
        self.writes: list[ProgressEntries] = []
        self.threads: set[str] = set()

    def load(self, group: str, tps: list[TopicPartitionKey]) -> dict[TopicPartitionKey, Progress]:
        return {tp: self.records[tp] for tp in tps if tp in self.records}

    def write(self, group: str, entries: ProgressEntries) -> None:
        self.threads.add(threading.current_thread().name)
        self.writes.append(dict(entries))
        for tp, entry in entries.items():
            if entry is None:
                self.records.pop(tp, None)
            else:
                self.records[tp] = entry


def _hang_first(gate: asyncio.Event) -> FakeReceiver:
    async def answer(request: OutboundRequest) -> Response:
        if json.loads(request.body or b"{}")["id"] == 0:
            await gate.wait()  # one tenant's endpoint hangs
        return Response(200)

    return FakeReceiver(answer)


def test_a_stuck_event_does_not_pause_while_the_others_flow_past_it() -> None:
    cluster = FakeCluster()
    _produce(cluster, range(150))
    gate = asyncio.Event()
    receiver = _hang_first(gate)
    progress = FakeProgress()

    async def scenario() -> None:
        r = route("r", ["calls"], ordering="none")
        member = LoopMember(cluster, [r], receiver, window=20, sparse=SPARSE, progress=progress)
        async with member:
            # seven windows' worth, under held_max (10 x window)
            await until(lambda: len(receiver.requests) == 150)
            assert not member.consumer.paused and not member.loop._paused
            assert (member.tracker.outstanding, member.tracker.kept) == (1, 150)
            expected = Progress(floor=0, position=0, ranges=((1, 150),))
            await until(lambda: progress.records.get(A) == expected)
            assert A not in cluster.committed  # nothing passes the stuck event
            gate.set()
            await until(lambda: cluster.committed.get(A) == 150)
            await until(lambda: A not in progress.records)  # cleared once nothing is held
        assert progress.threads == {"kafkahooks-kafka_0"}  # written by the Kafka thread

    _run(scenario)


def test_held_max_still_pauses_when_finished_offsets_pile_up() -> None:
    cluster = FakeCluster()
    _produce(cluster, range(200))
    gate = asyncio.Event()
    receiver = _hang_first(gate)

    async def scenario() -> None:
        r = route("r", ["calls"], ordering="none")
        member = LoopMember(cluster, [r], receiver, window=20, sparse=SPARSE, held_max=50)
        async with member:
            await until(lambda: member.loop._paused, timeout=5)
            assert member.tracker.kept <= 50
            assert len(receiver.requests) <= 50
            gate.set()
            await until(lambda: cluster.committed.get(A) == 200)
        assert sorted(receiver.ids()) == list(range(200))

    _run(scenario)


def test_a_new_owner_skips_what_the_previous_one_finished_above_its_commit() -> None:
    cluster = FakeCluster()
    _produce(cluster, range(10))
    cluster.committed[A] = 2
    progress = FakeProgress({A: Progress(floor=2, position=2, ranges=((3, 6), (8, 9)))})
    receiver = FakeReceiver()

    async def scenario() -> None:
        r = route("r", ["calls"], ordering="none")
        async with LoopMember(cluster, [r], receiver, sparse=SPARSE, progress=progress):
            await until(lambda: cluster.committed.get(A) == 10)
            await until(lambda: A not in progress.records)
        assert sorted(receiver.ids()) == [2, 6, 7, 9]

    _run(scenario)


def test_a_dense_topic_ignores_progress_records() -> None:
    cluster = FakeCluster()
    _produce(cluster, range(4))
    progress = FakeProgress({A: Progress(0, 0, ((1, 3),))})
    receiver = FakeReceiver()

    async def scenario() -> None:
        r = route("r", ["calls"], ordering="none")
        async with LoopMember(cluster, [r], receiver, progress=progress):
            await until(lambda: cluster.committed.get(A) == 4)
        assert sorted(receiver.ids()) == [0, 1, 2, 3]
        assert progress.writes == []

    _run(scenario)


def test_a_revoke_writes_the_record_before_its_commit_and_the_next_owner_skips_it() -> None:
    cluster = FakeCluster()
    _produce(cluster, range(10))
    gate = asyncio.Event()

    async def answer(request: OutboundRequest) -> Response:
        if json.loads(request.body or b"{}")["id"] == 2:
            await gate.wait()
        return Response(200)

    receiver = FakeReceiver(answer)
    progress = FakeProgress()
    committed_at_write: list[int | None] = []
    write = progress.write

    def spy(group: str, entries: ProgressEntries) -> None:
        committed_at_write.append(cluster.committed.get(A))
        write(group, entries)

    progress.write = spy  # type: ignore[method-assign]

    async def scenario() -> None:
        r = route("r", ["calls"], ordering="none")
        member = LoopMember(
            cluster, [r], receiver, sparse=SPARSE, progress=progress,
            commit_interval=60, drain_timeout=0.2,
        )  # fmt: skip
        async with member:
            await until(lambda: len(receiver.requests) == 10)
            await until(lambda: member.tracker.kept == 8)  # 2 stuck, 3..9 behind it
            member.consumer.rebalance(revoke=[A])  # the drain times out on 2
            await until(lambda: cluster.committed.get(A) == 2)
            assert committed_at_write == [None]  # written before the commit went
            assert progress.records[A] == Progress(0, 2, ((3, 10),))
            gate.set()
            member.consumer.rebalance(assign=[A])  # owned again: reads the record
            await until(lambda: len(receiver.requests) == 11)
            await until(lambda: member.tracker.positions() == {A: 10})
        assert cluster.committed[A] == 10  # the final commit
        assert A not in progress.records  # cleared with it
        assert sorted(receiver.ids()) == [0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9]

    _run(scenario)


def test_a_failed_progress_write_does_not_hold_the_commit_and_is_written_again() -> None:
    cluster = FakeCluster()
    _produce(cluster, range(10))
    gate = asyncio.Event()

    async def answer(request: OutboundRequest) -> Response:
        if json.loads(request.body or b"{}")["id"] == 2:
            await gate.wait()
        return Response(200)

    receiver = FakeReceiver(answer)
    progress = FakeProgress()
    write = progress.write
    failures = [StoreWriteError("the progress topic refused a write")]

    def flaky(group: str, entries: ProgressEntries) -> None:
        if failures:
            raise failures.pop()
        write(group, entries)

    progress.write = flaky  # type: ignore[method-assign]

    async def scenario() -> None:
        r = route("r", ["calls"], ordering="none")
        async with LoopMember(cluster, [r], receiver, sparse=SPARSE, progress=progress):
            await until(lambda: cluster.committed.get(A) == 2)  # committed all the same
            await until(lambda: progress.records.get(A) == Progress(2, 2, ((3, 10),)))
            gate.set()
        assert not failures
        assert _sample("kafkahooks_progress_failures_total", group="unit") >= 1

    _run(scenario)


def _sample(name: str, **labels: str) -> float:
    value = METRICS.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
