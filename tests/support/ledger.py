"""What a receiver accepted, counted by event id as it arrives.

Cheap to poll while tens of thousands of deliveries flow: a test waits on a
counter instead of re-reading every recorded request.  Like the receiver it
wraps, it must not import kafkahooks.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from tests.support.receiver import Behaviour, Reply, Request, ok


@dataclass(frozen=True)
class Tally:
    """Figures of one run: what was expected, what arrived, how often."""

    expected: int
    lost: int
    duplicates: int
    deliveries: int
    distinct_event_ids: int

    def line(self) -> str:
        return (
            f"expected={self.expected} delivered={self.deliveries} lost={self.lost} "
            f"duplicates={self.duplicates}"
        )


class Ledger:
    """A receiver behaviour: answers as ``behaviour`` does and counts every 2xx answer
    by ``webhook-id`` (duplicates) and by the payload's ``id`` (losses)."""

    def __init__(self, behaviour: Behaviour = ok) -> None:
        self.behaviour = behaviour
        self.by_event: Counter[str] = Counter()
        self.ids: set[int] = set()
        self.rejected = 0  # non-2xx answers given
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        reply = self.behaviour(request)
        with self._lock:
            if reply.status < 300:
                self.by_event[request.headers.get("webhook-id", "")] += 1
                self.ids.add(int(request.json()["id"]))
            else:
                self.rejected += 1
        return reply

    @property
    def delivered(self) -> int:
        with self._lock:
            return len(self.ids)

    def has_all(self, ids: Iterable[int]) -> bool:
        with self._lock:
            return self.ids.issuperset(ids)

    def tally(self, expected: Iterable[int]) -> Tally:
        wanted = set(expected)
        with self._lock:
            deliveries = sum(self.by_event.values())
            return Tally(
                expected=len(wanted),
                lost=len(wanted - self.ids),
                duplicates=deliveries - len(self.by_event),
                deliveries=deliveries,
                distinct_event_ids=len(self.by_event),
            )
