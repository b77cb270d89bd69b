"""Collect a route's events into batches of N events or T ms, per partition and lane.

Invariant: an open batch belongs to a partition this member still owns.  A
drain emits the partition's open batches (``flush``); once its tasks are
cancelled, ``drop`` forgets anything still open, timers included, so nothing
of a revoked or lost partition is sent or held afterwards.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable

from kafkahooks.delivery import Route
from kafkahooks.event import Event
from kafkahooks.kafka import TopicPartitionKey
from kafkahooks.templating import RenderContext

__all__ = ["Batcher"]

Flush = Callable[[TopicPartitionKey, Route, list[RenderContext]], None]


def batch_lane(route: Route, event: Event) -> int:
    """Which of the partition's batch lanes an event joins: one key, one lane."""
    batch = route.config.batch
    assert batch is not None
    if route.config.ordering == "partition" or batch.lanes == 1:
        return 0
    if route.config.ordering == "key" and event.key is not None:
        return zlib.crc32(event.key) % batch.lanes
    return event.offset % batch.lanes  # no order to keep: spread them


BatchKey = tuple[str, TopicPartitionKey, int]


class Batcher:
    def __init__(self, flush: Flush) -> None:
        self._flush = flush
        self._open: dict[BatchKey, list[RenderContext]] = {}
        self._timers: dict[BatchKey, asyncio.TimerHandle] = {}
        self._routes: dict[str, Route] = {}

    def add(self, tp: TopicPartitionKey, route: Route, ctx: RenderContext) -> None:
        batch = route.config.batch
        assert batch is not None
        key = (route.name, tp, batch_lane(route, ctx.event))
        items = self._open.get(key)
        if items is None:  # a new batch: its clock starts now
            items = self._open[key] = []
            self._routes[route.name] = route
            if batch.max_events > 1:
                delay = batch.max_wait_ms / 1000
                self._timers[key] = asyncio.get_running_loop().call_later(delay, self._emit, key)
        items.append(ctx)
        if len(items) >= batch.max_events:
            self._emit(key)

    def _emit(self, key: BatchKey) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        items = self._open.pop(key, None)
        if items:
            self._flush(key[1], self._routes[key[0]], items)

    def flush(self, tps: list[TopicPartitionKey]) -> None:
        """Emit what is open for these partitions now (drain, shutdown)."""
        wanted = set(tps)
        for key in [k for k in self._open if k[1] in wanted]:
            self._emit(key)

    def drop(self, tps: list[TopicPartitionKey]) -> None:
        """Forget what is open for these partitions, unsent (they are gone)."""
        gone = set(tps)
        for key in [k for k in self._open if k[1] in gone]:
            del self._open[key]
            timer = self._timers.pop(key, None)
            if timer is not None:
                timer.cancel()

    def holding(self) -> bool:
        """Whether a batch is open: its timer will send it (health: that is progress)."""
        return bool(self._open)

    def open_batches(self, tp: TopicPartitionKey) -> int:
        return sum(1 for key in self._open if key[1] == tp)
