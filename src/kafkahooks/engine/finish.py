"""The engine's last step: an event is finished in the offset tracker once every route
that matched it has an outcome.

An event with one outcome to wait for (the common case) is finished by that
outcome directly; one with several (fan-out to routes, or a decoding failure
beside them) is counted down here first.  Only the tracker then decides what
may be committed, and only ``kafka/commits.py`` commits it.

Invariant: nothing is counted for a partition this member no longer owns
(``forget`` after a drain), so a partition assigned again starts clean.
"""

from __future__ import annotations

from kafkahooks.event import Event
from kafkahooks.kafka import OffsetTracker, TopicPartitionKey

__all__ = ["Finish"]


class Finish:
    def __init__(self, tracker: OffsetTracker) -> None:
        self.tracker = tracker
        # (topic, partition, offset) → outcomes still to come, for events that expect several
        self._pending: dict[tuple[str, int, int], int] = {}

    def expect(self, event: Event, outcomes: int) -> None:
        """``event`` is finished after ``outcomes`` (more than one) calls of ``route_done``;
        one outcome finishes an event by itself, so the intake calls this only for more."""
        self._pending[(event.topic, event.partition, event.offset)] = outcomes

    def event(self, event: Event) -> None:
        """Finish a record that has no route outcome to wait for (filtered, a tombstone,
        a retry-topic record whose parked event has its outcome)."""
        self.tracker.finish((event.topic, event.partition), event.offset)

    def route_done(self, event: Event) -> None:
        """One route (or one decoding failure) of ``event`` has its outcome."""
        if not self._pending:
            self.tracker.finish((event.topic, event.partition), event.offset)
            return
        key = (event.topic, event.partition, event.offset)
        left = self._pending.get(key, 1) - 1
        if left:
            self._pending[key] = left
        else:
            self._pending.pop(key, None)
            self.tracker.finish((event.topic, event.partition), event.offset)

    def forget(self, tps: list[TopicPartitionKey]) -> None:
        """Drop the counts of these partitions (drained: revoked, lost or shutting down)."""
        gone = set(tps)
        for key in [k for k in self._pending if (k[0], k[1]) in gone]:
            del self._pending[key]
