"""An endpoint's attempts and statistics for the API: the in-memory index, fed by the
delivery-log follower, with history older than memory read from the log.

Job: at start, catch up over the last 25 h of the delivery log (the start-up figures are
:attr:`EndpointAttempts.load`), then follow it; answer ``attempts(...)`` from memory when
the index says its answer is complete, else from the log (``offsets_for_times(since)`` up
to what the follower has applied, on the endpoint's partition); answer ``stats(...)``
from the hourly aggregates.

Invariant: every answer says where it came from and whether it is complete; a log read
that runs out of time returns what it found with ``complete`` False, never an empty
answer passed off as the whole.  This module knows no HTTP: the routes map
:class:`AttemptsPage` and :class:`~kafkahooks.api.attempts.EndpointStats` to JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from kafkahooks.api.attempts import (
    HOURS,
    KEEP,
    Attempt,
    AttemptIndex,
    EndpointStats,
    StatusFilter,
)
from kafkahooks.kafka import AttemptRecord, DeliveryLogFollower, FollowerLoad

__all__ = [
    "MAX_LIMIT",
    "AttemptsPage",
    "AttemptsSource",
    "EndpointAttempts",
    "open_endpoint_attempts",
]

MAX_LIMIT = KEEP  # attempts per answer, at most
_WINDOW = HOURS * 3600.0  # what the catch-up reads: the statistics' 25 hours


@dataclass(frozen=True, slots=True)
class AttemptsPage:
    """Newest first.  ``source`` says whether memory sufficed; ``complete`` False: a log
    read ran out of time and older matches may be missing."""

    attempts: list[Attempt]
    complete: bool
    source: Literal["memory", "log"]


class AttemptsSource(Protocol):
    """What the routes need of the read model (``EndpointAttempts``; a fake in tests)."""

    def attempts(
        self,
        endpoint_id: str,
        *,
        status: StatusFilter | None = None,
        since: float | None = None,
        limit: int = 50,
        timeout: float = 5.0,
    ) -> AttemptsPage: ...

    def stats(self, endpoint_id: str) -> EndpointStats: ...


def _attempt(r: AttemptRecord) -> Attempt:
    return Attempt(
        r.at, r.event_id, r.event_type, r.attempt, r.status, round(r.latency_ms, 2), r.error
    )


class EndpointAttempts:
    """The read model behind ``…/endpoints/{id}/attempts`` and ``…/stats``."""

    def __init__(
        self, index: AttemptIndex, follower: DeliveryLogFollower, load: FollowerLoad
    ) -> None:
        self.index = index
        self.follower = follower
        self.load = load  # start-up: records read, seconds, partitions

    def attempts(
        self,
        endpoint_id: str,
        *,
        status: StatusFilter | None = None,
        since: float | None = None,
        limit: int = 50,
        timeout: float = 5.0,
    ) -> AttemptsPage:
        """The ``limit`` (1…1,000) newest attempts of ``endpoint_id`` at or after
        ``since`` (unix seconds) matching ``status``.  Without ``since``: the newest kept
        (the last 1,000 attempts, at most 25 h before this replica started).  A ``since``
        older than memory reads the log for at most ``timeout`` seconds."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        answer = self.index.attempts(endpoint_id, status=status, since=since, limit=limit)
        if answer.complete or since is None:
            return AttemptsPage(answer.attempts, True, "memory")
        keep = None if status is None else (lambda r: status.matches(r.status, r.error is not None))
        read = self.follower.read_endpoint(
            endpoint_id, since, limit=limit, keep=keep, timeout=timeout
        )
        return AttemptsPage([_attempt(r) for r in read.records], read.complete, "log")

    def stats(self, endpoint_id: str) -> EndpointStats:
        """Attempts, deliveries, failures, p50/p99 latency over 24 h (bucket estimates)."""
        return self.index.stats(endpoint_id)

    def sync(self, timeout: float) -> None:
        """Wait until every attempt logged before this call is in memory."""
        self.follower.sync(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.follower.close(timeout)

    def __enter__(self) -> EndpointAttempts:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_endpoint_attempts(
    properties: dict[str, Any],
    topic: str,
    *,
    timeout: float = 60.0,
    keep: int = KEEP,
    clock: Callable[[], float] = time.time,
) -> EndpointAttempts:
    """Catch up over the last 25 h of ``topic`` (the delivery log), then follow it.
    ``properties``: librdkafka properties (bootstrap servers and ``kafka.properties``).
    Raises :class:`~kafkahooks.kafka.DeliveryLogError` when the topic is missing or not
    read to now within ``timeout``."""
    start = clock() - _WINDOW
    index = AttemptIndex(start, keep=keep, clock=clock)
    follower = DeliveryLogFollower(properties, topic, index.add_many, start=start)
    try:
        load = follower.load(timeout)
    except BaseException:
        follower.close(0.5)
        raise
    follower.follow()
    return EndpointAttempts(index, follower, load)
