"""Where deliveries run: ordering lanes and task bookkeeping per partition.

Ordering per route:

* ``key``: one lane per (route, partition, key): same-key events strictly in
  offset order, different keys in parallel.  Events without a key have no
  order to keep and run on their own.
* ``partition``: one lane per (route, partition).
* ``none``: every delivery on its own.

A lane is a queue plus at most one task draining it, so an event that is
retrying (sleeping in backoff) holds back only its own lane.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Literal

from kafkahooks.offsets import TopicPartitionKey

__all__ = ["Job", "Ordering", "Scheduler"]

Job = Callable[[], Awaitable[None]]
Ordering = Literal["key", "partition", "none"]


class Scheduler:
    def __init__(self) -> None:
        self._lanes: dict[Hashable, deque[Job]] = {}
        self._tasks: dict[TopicPartitionKey, set[asyncio.Task[None]]] = {}

    def submit(
        self, tp: TopicPartitionKey, route: str, ordering: Ordering, key: bytes | None, job: Job
    ) -> None:
        if ordering == "none" or (ordering == "key" and key is None):
            self._spawn(tp, job())
            return
        lane_id = (route, tp, key) if ordering == "key" else (route, tp)
        lane = self._lanes.get(lane_id)
        if lane is not None:
            lane.append(job)
            return
        self._lanes[lane_id] = deque((job,))
        self._spawn(tp, self._drain_lane(lane_id))

    async def _drain_lane(self, lane_id: Hashable) -> None:
        lane = self._lanes[lane_id]
        try:
            while lane:
                await lane[0]()
                lane.popleft()
        finally:
            self._lanes.pop(lane_id, None)

    def _spawn(self, tp: TopicPartitionKey, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        tasks = self._tasks.setdefault(tp, set())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def cancel(self, tps: list[TopicPartitionKey]) -> None:
        """Cancel everything of these partitions (after a drain timed out)."""
        doomed = [t for tp in tps for t in self._tasks.pop(tp, set())]
        for task in doomed:
            task.cancel()
        if doomed:
            await asyncio.gather(*doomed, return_exceptions=True)

    def busy(self) -> int:
        return sum(len(t) for t in self._tasks.values())
