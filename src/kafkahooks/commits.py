"""The one place that commits offsets, always from the tracker's positions."""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from kafkahooks.metrics import METRICS
from kafkahooks.offsets import OffsetTracker, TopicPartitionKey

__all__ = ["Committer"]

log = logging.getLogger("kafkahooks.commits")

_MIN_SPACING = 0.5  # seconds between two periodic commits


class Committer:
    def __init__(
        self, consumer: Consumer, tracker: OffsetTracker, interval: float, every: int
    ) -> None:
        self._consumer = consumer
        self._tracker = tracker
        self._interval = interval
        self._every = every
        self._last = time.monotonic()
        self.commits = 0

    def due(self) -> bool:
        """Whether ``maybe_commit`` would commit now (no broker call to find out)."""
        since = time.monotonic() - self._last
        due = since >= self._interval or self._tracker.finished_since_commit >= self._every
        return due and since >= min(_MIN_SPACING, self._interval)

    def maybe_commit(self) -> None:
        """Asynchronous commit once per interval, sooner when ``every`` events finished,
        but never more than twice a second (each commit is a broker round trip)."""
        if not self.due():
            return
        self._last = time.monotonic()
        positions = self._tracker.positions()
        if positions:
            self._commit(positions, asynchronous=True)

    def commit_sync(self, tps: list[TopicPartitionKey] | None = None) -> None:
        """Synchronous commit of everything finished (revocation, shutdown)."""
        positions = self._tracker.positions(tps, force=True)
        if positions:
            self._commit(positions, asynchronous=False)

    def _commit(self, positions: dict[TopicPartitionKey, int], asynchronous: bool) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        mode = "async" if asynchronous else "sync"
        started = time.perf_counter()
        try:
            if asynchronous:
                self._consumer.commit(offsets=offsets, asynchronous=True)
            else:
                self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            err: Any = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError._NO_OFFSET:
                return
            log.error("commit failed", extra={"error": str(exc), "sync": not asynchronous})
            if not asynchronous:
                raise
            return
        self._tracker.mark_committed(positions)
        self.commits += 1
        METRICS.commits.labels(mode).inc()
        METRICS.commit_seconds.labels(mode).observe(time.perf_counter() - started)
        log.debug(
            "committed", extra={"offsets": {f"{t}/{p}": o for (t, p), o in positions.items()}}
        )
