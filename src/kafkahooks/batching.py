"""Collect a route's events per partition into batches of N events or T ms."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kafkahooks.offsets import TopicPartitionKey
from kafkahooks.routing import Route
from kafkahooks.templates import RenderContext

__all__ = ["Batcher"]

Flush = Callable[[TopicPartitionKey, Route, list[RenderContext]], None]


class Batcher:
    def __init__(self, flush: Flush) -> None:
        self._flush = flush
        self._open: dict[tuple[str, TopicPartitionKey], list[RenderContext]] = {}
        self._timers: dict[tuple[str, TopicPartitionKey], asyncio.TimerHandle] = {}
        self._routes: dict[str, Route] = {}

    def add(self, tp: TopicPartitionKey, route: Route, ctx: RenderContext) -> None:
        assert route.config.batch is not None
        key = (route.name, tp)
        self._routes[route.name] = route
        items = self._open.setdefault(key, [])
        items.append(ctx)
        if len(items) >= route.config.batch.max_events:
            self._emit(key)
        elif len(items) == 1:
            delay = route.config.batch.max_wait_ms / 1000
            self._timers[key] = asyncio.get_running_loop().call_later(delay, self._emit, key)

    def _emit(self, key: tuple[str, TopicPartitionKey]) -> None:
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
