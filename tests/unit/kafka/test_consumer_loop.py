"""The consumer loop, pipeline, scheduler and committer together, on an in-memory Kafka
(``tests/support/fakekafka.py``): rebalances, pauses and commit answers are scripted, and
the offset tracker checks that only the event loop's thread touches it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import pytest
from confluent_kafka import KafkaError

from kafkahooks.app.health import HealthServer
from kafkahooks.config.sources import DeadLetterLimitConfig
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.sender import Response
from kafkahooks.engine.scheduler import Scheduler
from kafkahooks.telemetry.metrics import METRICS
from tests.support.fakekafka import FakeCluster
from tests.support.member import FakeReceiver, LoopMember, route, until

A = ("calls", 0)
KAFKA_THREAD = "kafkahooks-kafka_0"


def _run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def _produce(cluster: FakeCluster, tp: tuple[str, int], ids: range, keys: int = 1) -> None:
    topic, partition = tp
    for i in ids:
        value = json.dumps({"id": i}).encode()
        cluster.produce(topic, value, key=f"k{i % keys}".encode(), partition=partition)


async def _down(_: OutboundRequest) -> Response:
    return Response(503)


def _sample(name: str, **labels: str) -> float:
    value = METRICS.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_fan_out_finishes_an_event_once_every_route_is_done_and_the_drain_waits() -> None:
    """Two routes match every event: the offset passes only when both are delivered,
    and a stop drains the slower route before its final commit."""
    cluster = FakeCluster()
    _produce(cluster, A, range(5))
    slow_gate = asyncio.Event()

    async def answer(request: OutboundRequest) -> Response:
        if request.url.endswith("/slow"):
            await slow_gate.wait()
        return Response(200)

    receiver = FakeReceiver(answer)

    async def scenario() -> None:
        routes = [route("fast", ["calls"]), route("slow", ["calls"], ordering="none")]
        async with LoopMember(cluster, routes, receiver) as member:
            await until(lambda: len(receiver.for_route("fast")) == 5)
            await until(lambda: len(receiver.for_route("slow")) == 5)
            await asyncio.sleep(0.2)  # several commit intervals
            assert member.tracker.outstanding == 5  # every event still waits for "slow"
            assert A not in cluster.committed
            asyncio.get_running_loop().call_later(0.3, slow_gate.set)
            await member.stop()  # the drain waits for "slow", then the final commit
        assert cluster.committed[A] == 5
        assert sorted(receiver.ids("fast")) == sorted(receiver.ids("slow")) == list(range(5))

    _run(scenario)


def test_revoke_drains_then_commits_synchronously_and_leaves_nothing_behind() -> None:
    cluster = FakeCluster()
    _produce(cluster, A, range(20), keys=4)
    finished_at: list[float] = []

    async def answer(_: OutboundRequest) -> Response:
        await asyncio.sleep(0.05)
        finished_at.append(asyncio.get_running_loop().time())
        return Response(200)

    receiver = FakeReceiver(answer)

    async def scenario() -> None:
        async with LoopMember(cluster, [route("r", ["calls"])], receiver) as member:
            await until(lambda: receiver.requests)
            member.consumer.rebalance(revoke=[A])  # while deliveries are in flight
            await until(lambda: A not in member.consumer.assigned)
            # drained: everything taken was delivered before the commit on revoke
            assert ("sync", {A: 20}) in member.consumer.commits
            assert cluster.committed[A] == 20
            assert sorted(receiver.ids()) == list(range(20))
            assert not member.tracker.owns(A)
            assert member.pipeline.scheduler.lanes(A) == 0
            assert member.pipeline.scheduler.busy() == 0
        assert member.consumer.threads == {KAFKA_THREAD}

    _run(scenario)


def test_a_batch_route_delivers_again_after_on_lost_and_reassignment() -> None:
    """Item 2: on_lost emits the open batch and cancels its lane task before its first
    step; the lane must go with it, or the partition never delivers on this member again."""
    cluster = FakeCluster()
    _produce(cluster, A, range(3))
    receiver = FakeReceiver()
    batch = {"max_events": 5, "max_wait_ms": 60_000, "lanes": 1}

    async def scenario() -> None:
        async with LoopMember(cluster, [route("b", ["calls"], batch=batch)], receiver) as member:
            await until(lambda: member.tracker.outstanding == 3)  # an open batch of 3
            member.consumer.lose([A])
            await until(lambda: A not in member.consumer.assigned)
            assert member.pipeline.scheduler.lanes(A) == 0
            assert member.pipeline.batcher.open_batches(A) == 0
            assert not receiver.requests  # on_lost sends nothing and commits nothing
            assert A not in cluster.committed
            _produce(cluster, A, range(3, 5))
            member.consumer.rebalance(assign=[A])  # it comes back to this member
            await until(lambda: cluster.committed.get(A) == 5, timeout=5)
        assert receiver.ids() == [0, 1, 2, 3, 4]
        assert member.consumer.threads == {KAFKA_THREAD}

    _run(scenario)


def test_a_paused_member_given_a_new_topic_stays_within_its_window() -> None:
    """Item 1: a partition assigned while paused is paused too (assigned first, then
    paused), and the window bounds what the member holds."""
    cluster = FakeCluster()
    old, new = ("calls", 0), ("calls.retry", 0)
    cluster.create("calls.retry")
    _produce(cluster, old, range(50))
    receiver = FakeReceiver(_down)
    retry = {"max_attempts": 100, "initial_backoff": 0.05, "max_backoff": 0.1, "jitter": 0}
    window = 10

    async def scenario() -> None:
        r = route("r", ["calls", "calls.retry"], retry=retry, ordering="none")
        async with LoopMember(cluster, [r], receiver, window=window) as member:
            member.consumer.rebalance(revoke=[new])  # start with the first topic only
            await until(lambda: member.loop._paused, timeout=5)
            assert member.tracker.outstanding == window
            _produce(cluster, new, range(100, 400))
            member.consumer.rebalance(assign=[new])
            await until(lambda: new in member.consumer.assigned)
            await asyncio.sleep(1.0)  # a hundred polls
            assert member.tracker.outstanding <= window
            assert new in member.consumer.paused
            assert not member.tracker.positions([new], force=True)  # nothing taken there

    _run(scenario)


def test_a_record_of_a_partition_that_should_be_paused_is_given_back_not_held() -> None:
    """When librdkafka returns records although the member is paused (a pause it did not
    apply), they are given back with seek() to their offset and read again later."""
    cluster = FakeCluster()
    _produce(cluster, A, range(30))
    down = asyncio.Event()
    down.set()

    async def answer(_: OutboundRequest) -> Response:
        return Response(503 if down.is_set() else 200)

    receiver = FakeReceiver(answer)
    retry = {"max_attempts": 100, "initial_backoff": 0.05, "max_backoff": 0.1, "jitter": 0}

    async def scenario() -> None:
        r = route("r", ["calls"], retry=retry, ordering="none")
        async with LoopMember(cluster, [r], receiver, window=10) as member:
            await until(lambda: member.loop._paused, timeout=5)
            member.consumer.paused.clear()  # the pause did not hold
            await until(lambda: member.consumer.seeks)
            assert member.tracker.outstanding <= 10
            assert member.consumer.seeks[0] == (A, 10)  # the first record not taken
            down.clear()  # the receiver is back: everything arrives, once
            await until(lambda: cluster.committed.get(A) == 30, timeout=10)
        assert sorted(set(receiver.ids())) == list(range(30))

    _run(scenario)


def test_a_failed_async_commit_is_counted_and_sent_again_while_the_partition_is_quiet() -> None:
    cluster = FakeCluster()
    _produce(cluster, A, range(5))
    receiver = FakeReceiver()
    before = _sample("kafkahooks_commit_failures_total", group="unit-fail", mode="async")

    async def scenario() -> None:
        member = LoopMember(cluster, [route("r", ["calls"])], receiver, group="unit-fail")
        member.consumer.async_failures.append(KafkaError.REQUEST_TIMED_OUT)
        async with member:
            # no new record arrives: only a retry of the failed commit can move the offset
            await until(lambda: cluster.committed.get(A) == 5, timeout=5)
            assert member.loop.commit_failures == 1
            assert member.tracker.positions() == {}  # acknowledged: nothing left to send
        after = _sample("kafkahooks_commit_failures_total", group="unit-fail", mode="async")
        assert after == before + 1

    _run(scenario)


def test_the_commit_on_revoke_is_retried_while_a_rebalance_is_in_progress() -> None:
    cluster = FakeCluster()
    _produce(cluster, A, range(5))
    receiver = FakeReceiver()

    async def scenario() -> None:
        # a long commit interval: the revoke's commit is the only one
        member = LoopMember(cluster, [route("r", ["calls"])], receiver, commit_interval=60)
        async with member:
            await until(lambda: member.tracker.positions() == {A: 5})
            member.consumer.sync_failures.append(KafkaError.REBALANCE_IN_PROGRESS)
            member.consumer.rebalance(revoke=[A])
            await until(lambda: A not in member.consumer.assigned)
        assert member.consumer.commits == [("sync", {A: 5})]
        assert cluster.committed[A] == 5

    _run(scenario)


def test_the_final_commit_has_a_deadline_of_its_own_after_a_drain_that_timed_out() -> None:
    cluster = FakeCluster()
    _produce(cluster, A, range(6))
    receiver = FakeReceiver()
    hang = asyncio.Event()

    async def answer(request: OutboundRequest) -> Response:
        if json.loads(request.body)["id"] == 5:
            await hang.wait()  # never answers: the drain times out
        return Response(200)

    receiver.answer = answer

    async def scenario() -> None:
        r = route("r", ["calls"], ordering="none")
        member = LoopMember(cluster, [r], receiver, commit_interval=60, drain_timeout=0.3)
        async with member:
            await until(lambda: member.tracker.positions() == {A: 5})
            member.consumer.sync_failures.append(KafkaError.REBALANCE_IN_PROGRESS)
        assert cluster.committed[A] == 5  # the finished prefix, on the second try

    _run(scenario)


def test_dead_letter_limit_counts_start_again_when_a_partition_is_assigned_again() -> None:
    cluster = FakeCluster()
    _produce(cluster, A, range(3))
    limit = DeadLetterLimitConfig(max_consecutive=3, max_ratio=None)

    async def refuse(_: OutboundRequest) -> Response:
        return Response(400)

    receiver = FakeReceiver(refuse)

    async def scenario() -> None:
        r = route("r", ["calls"])
        async with LoopMember(cluster, [r], receiver, dead_letter_limit=limit) as member:
            await until(lambda: cluster.committed.get(A) == 3)  # 3 in a row: at the limit
            member.consumer.rebalance(revoke=[A])
            await until(lambda: A not in member.consumer.assigned)
            _produce(cluster, A, range(3, 5))
            member.consumer.rebalance(assign=[A])
            await until(lambda: cluster.committed.get(A) == 5)
            assert member.pipeline.fatal is None
        assert len(member.dead_letters.records) == 5

    _run(scenario)


def test_a_redelivered_offset_is_not_begun_twice() -> None:
    """Records at or below the last offset taken (a fetch position moved back) are an
    event already in hand: dropped, each event delivered once."""
    cluster = FakeCluster()
    _produce(cluster, A, range(10))
    gate = asyncio.Event()

    async def answer(_: OutboundRequest) -> Response:
        await gate.wait()
        return Response(200)

    receiver = FakeReceiver(answer)

    async def scenario() -> None:
        r = route("r", ["calls"], ordering="none")
        async with LoopMember(cluster, [r], receiver) as member:
            await until(lambda: len(receiver.requests) == 10)
            member.consumer.positions[A] = 0  # the same ten records come again
            await asyncio.sleep(0.2)
            assert member.tracker.outstanding == 10
            gate.set()
            await until(lambda: cluster.committed.get(A) == 10)
        assert sorted(receiver.ids()) == list(range(10))

    _run(scenario)


def test_cancel_removes_the_lanes_of_a_task_that_never_started() -> None:
    async def scenario() -> None:
        scheduler = Scheduler(on_error=lambda exc: None)
        ran: list[int] = []

        async def job() -> None:
            ran.append(1)

        scheduler.submit(A, "r", "key", b"k", job)
        await scheduler.cancel([A])  # before the lane's first step
        assert scheduler.lanes(A) == 0
        scheduler.submit(A, "r", "key", b"k", job)  # the partition came back
        await until(lambda: ran)
        assert scheduler.lanes(A) == 0

    _run(scenario)


def test_the_stall_clock_counts_waiting_on_a_receiver_as_progress() -> None:
    """A receiver that is down is not a stall: attempts keep starting (backoff), and
    delivery tasks are alive."""
    cluster = FakeCluster()
    _produce(cluster, A, range(5))
    receiver = FakeReceiver(_down)
    retry = {"max_attempts": 100, "initial_backoff": 0.2, "max_backoff": 0.5, "jitter": 0}

    async def scenario() -> None:
        async with LoopMember(cluster, [route("r", ["calls"], retry=retry)], receiver) as member:
            await until(lambda: member.tracker.outstanding == 5)
            loop = asyncio.get_running_loop()
            worst = 0.0
            for _ in range(35):  # 3.5 s: more than three observation periods
                await asyncio.sleep(0.1)
                worst = max(worst, member.loop.stalled_for(loop.time()))
            assert worst < 1.5

    _run(scenario)


async def _healthz(members: list[LoopMember], stall_after: float) -> int:
    server = HealthServer(lambda: [m.loop for m in members], "127.0.0.1", 0, stall_after)
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/healthz"
        async with aiohttp.ClientSession() as session, session.get(url) as answer:
            return answer.status
    finally:
        await server.stop()


def test_healthz_stays_200_through_a_receiver_outage_of_three_times_the_bound() -> None:
    cluster = FakeCluster()
    _produce(cluster, A, range(5))
    receiver = FakeReceiver(_down)
    retry = {"max_attempts": 100, "initial_backoff": 0.2, "max_backoff": 0.5, "jitter": 0}
    bound = 1.2

    async def scenario() -> None:
        async with LoopMember(cluster, [route("r", ["calls"], retry=retry)], receiver) as member:
            await until(lambda: member.tracker.outstanding == 5)
            seen = set()
            for _ in range(int(3 * bound / 0.3) + 1):
                seen.add(await _healthz([member], bound))
                await asyncio.sleep(0.3)
            assert seen == {200}

    _run(scenario)


def test_an_orphaned_lane_turns_healthz_503(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the old cancel (lanes left behind), the on_lost scenario above orphans the
    lane: records wait, nothing runs, nothing finishes, and /healthz says so."""

    async def old_cancel(self: Scheduler, tps: list[tuple[str, int]]) -> None:
        doomed = [t for tp in tps for t in self._tasks.pop(tp, set())]
        for task in doomed:
            task.cancel()
        if doomed:
            await asyncio.gather(*doomed, return_exceptions=True)

    monkeypatch.setattr(Scheduler, "cancel", old_cancel)
    cluster = FakeCluster()
    _produce(cluster, A, range(3))
    receiver = FakeReceiver()
    batch = {"max_events": 5, "max_wait_ms": 60_000, "lanes": 1}
    bound = 1.2

    async def scenario() -> None:
        async with LoopMember(cluster, [route("b", ["calls"], batch=batch)], receiver) as member:
            await until(lambda: member.tracker.outstanding == 3)
            member.consumer.lose([A])
            await until(lambda: A not in member.consumer.assigned)
            assert member.pipeline.scheduler.lanes(A) == 1  # orphaned
            _produce(cluster, A, range(3, 5))
            member.consumer.rebalance(assign=[A])
            await until(lambda: member.tracker.outstanding == 5)
            assert await _healthz([member], bound) == 200
            await asyncio.sleep(bound + 1.5)  # the bound, and an observation period
            assert await _healthz([member], bound) == 503
            assert not receiver.requests
            member.pipeline.scheduler._lanes.clear()  # let the stop finish quickly

    _run(scenario)
