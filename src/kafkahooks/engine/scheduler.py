"""Where deliveries run: ordering lanes and task bookkeeping per partition.

Ordering per route:

* ``key``: one lane per (route, partition, key): same-key events strictly in
  offset order, different keys in parallel.  Events without a key have no
  order to keep and run on their own.
* ``partition``: one lane per (route, partition).
* ``none``: every delivery on its own.

A lane is a queue plus at most one task draining it, so an event that is
retrying (sleeping in backoff) holds back only its own lane.  Invariant: a
lane exists only while its task can still drain it.  Cancelling a partition
removes its lanes too: a task cancelled before its first step never runs its
own cleanup, and a lane left behind would take the partition's later events
(after it is assigned again) with no task to run them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Literal

from kafkahooks.kafka import TopicPartitionKey

__all__ = ["Job", "Ordering", "Scheduler"]

Job = Callable[[], Awaitable[None]]
Ordering = Literal["key", "partition", "none"]
# (route, partition) or (route, partition, key): the partition is always second
LaneId = tuple[str, TopicPartitionKey] | tuple[str, TopicPartitionKey, bytes]


class Scheduler:
    """``on_error`` hears of a job that raised: a bug, never an outcome.  The job's event
    stays unfinished (so no commit passes it) and the caller decides to stop."""

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        self._on_error = on_error
        self._lanes: dict[LaneId, deque[Job]] = {}
        self._tasks: dict[TopicPartitionKey, set[asyncio.Task[object]]] = {}

    def submit(
        self, tp: TopicPartitionKey, route: str, ordering: Ordering, key: bytes | None, job: Job
    ) -> None:
        if ordering == "none" or (ordering == "key" and key is None):
            self._spawn(tp, self._run(job))
            return
        lane_id: LaneId = (route, tp, key) if ordering == "key" and key is not None else (route, tp)
        lane = self._lanes.get(lane_id)
        if lane is not None:
            lane.append(job)
            return
        lane = self._lanes[lane_id] = deque((job,))
        self._spawn(tp, self._drain_lane(lane_id, lane))

    async def _drain_lane(self, lane_id: LaneId, lane: deque[Job]) -> None:
        try:
            while lane:
                if not await self._run(lane[0]):
                    return  # the lane stops here; its events stay unfinished
                lane.popleft()
        finally:
            if self._lanes.get(lane_id) is lane:  # not a newer lane of the same id
                del self._lanes[lane_id]

    async def _run(self, job: Job) -> bool:
        try:
            await job()
        except Exception as exc:
            self._on_error(exc)
            return False
        return True

    def _spawn(self, tp: TopicPartitionKey, work: Awaitable[object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(work)
        tasks = self._tasks.setdefault(tp, set())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def cancel(self, tps: list[TopicPartitionKey]) -> None:
        """Cancel everything of these partitions (after a drain timed out) and remove
        their lanes, whether or not their tasks ever ran."""
        doomed = [t for tp in tps for t in self._tasks.pop(tp, set())]
        for task in doomed:
            task.cancel()
        if doomed:
            await asyncio.gather(*doomed, return_exceptions=True)
        gone = set(tps)
        for lane_id in [lane_id for lane_id in self._lanes if lane_id[1] in gone]:
            del self._lanes[lane_id]

    def busy(self) -> int:
        """Tasks alive: deliveries in progress (an attempt, its backoff, a wait for an
        endpoint slot or an open circuit) or outcomes being written."""
        return sum(len(t) for t in self._tasks.values())

    def lanes(self, tp: TopicPartitionKey) -> int:
        """Lanes of one partition (tests: none may outlive a cancel)."""
        return sum(1 for lane_id in self._lanes if lane_id[1] == tp)
