"""Per-partition offset tracking: which events are finished, what may be committed.

Events of one partition are taken in strictly rising offset order and may
finish in any order.  The committable position of a partition is one past the
last offset of its contiguous finished prefix, so a commit never passes an
unfinished event.  A position counts as committed only once the broker said
so; a commit that failed leaves it to be sent again.

One thread owns a tracker: the event loop's.  Kafka-thread code (rebalance
callbacks, commit results) hands its work to the loop instead of touching the
tracker; the window counter it keeps is a plain int, and a second writer would
lose updates for good.  With ``KAFKAHOOKS_CHECK_THREADS=1`` (the test suite sets
it) every method of a consumer loop's tracker checks that it runs on the thread
that used the tracker first; otherwise the check costs nothing (the methods are
not wrapped).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CHECK_THREADS",
    "OffsetOrderError",
    "OffsetTracker",
    "PartitionState",
    "ThreadOwnershipError",
    "TopicPartitionKey",
]

log = logging.getLogger("kafkahooks.offsets")

TopicPartitionKey = tuple[str, int]

# Tests turn this on (tests/conftest.py, and the environment for the bridges they start).
CHECK_THREADS = os.environ.get("KAFKAHOOKS_CHECK_THREADS", "") == "1"


class OffsetOrderError(RuntimeError):
    """An offset was begun that is not above the last one begun on its partition."""


class ThreadOwnershipError(AssertionError):
    """A tracker was used from a thread other than its owner's (test mode only)."""


@dataclass(slots=True)
class PartitionState:
    taken: deque[int] = field(default_factory=deque)  # begun, not passed by the position
    pending: set[int] = field(default_factory=set)  # begun and not finished
    last: int = -1  # the last offset begun
    position: int | None = None  # next offset to commit (last finished prefix + 1)
    committed: int | None = None  # the last position the broker acknowledged
    sent: int | None = None  # a position sent asynchronously and not answered yet
    # (first offset begun in one poll, that poll's clock): the age of the oldest
    # unfinished event without a clock call or an allocation per record
    marks: deque[tuple[int, float]] = field(default_factory=deque)
    stamp: float = -1.0  # the poll clock of the last mark

    def advance(self) -> int:
        """Pop the finished prefix; return how many events left the window."""
        popped = 0
        taken, pending = self.taken, self.pending
        while taken and taken[0] not in pending:
            self.position = taken.popleft() + 1
            popped += 1
        return popped

    @property
    def outstanding(self) -> int:
        return len(self.taken)


class OffsetTracker:
    def __init__(self) -> None:
        self._parts: dict[TopicPartitionKey, PartitionState] = {}
        # The window: events taken and not yet passed by the committable position, i.e.
        # unfinished ones and finished ones behind them.  A crash redelivers at most these
        # (plus those finished since the last commit), so this is what bounds memory too.
        self.outstanding = 0
        self.finished_total = 0  # events finished since start (health: progress)
        self._finished_at_send = 0
        # the consumer loop's clock at its last poll; records begun now carry it
        self.clock = 0.0
        self._owner: int | None = None

    # -- partitions --------------------------------------------------------
    def assign(self, tps: list[TopicPartitionKey]) -> None:
        for tp in tps:
            self._parts.setdefault(tp, PartitionState())

    def revoke(self, tps: list[TopicPartitionKey]) -> None:
        for tp in tps:
            state = self._parts.pop(tp, None)
            if state is not None:
                self.outstanding -= state.outstanding

    def owns(self, tp: TopicPartitionKey) -> bool:
        return tp in self._parts

    def last_begun(self, tp: TopicPartitionKey) -> int | None:
        """The last offset begun on ``tp`` (-1 before the first), or None if not owned."""
        state = self._parts.get(tp)
        return None if state is None else state.last

    @property
    def assigned(self) -> list[TopicPartitionKey]:
        return list(self._parts)

    # -- events -----------------------------------------------------------
    def begin(self, tp: TopicPartitionKey, offset: int) -> None:
        state = self._parts[tp]
        if offset <= state.last:
            topic, partition = tp
            raise OffsetOrderError(
                f"offset {offset} of {topic}/{partition} begun after offset {state.last}: "
                "a record may be begun once, in rising order"
            )
        state.last = offset
        state.taken.append(offset)
        state.pending.add(offset)
        if state.stamp != self.clock:
            state.stamp = self.clock
            state.marks.append((offset, self.clock))
        self.outstanding += 1

    def finish(self, tp: TopicPartitionKey, offset: int) -> None:
        state = self._parts.get(tp)
        if state is None:  # partition revoked meanwhile: its new owner redoes it
            return
        try:
            state.pending.remove(offset)
        except KeyError:  # never begun (or finished twice): a bug, but not the data's
            log.warning(
                "finish of an offset never begun ignored",
                extra={"topic": tp[0], "partition": tp[1], "offset": offset},
            )
            return
        self.finished_total += 1
        if state.taken[0] == offset:
            self.outstanding -= state.advance()

    def outstanding_in(self, tps: list[TopicPartitionKey]) -> int:
        """Unfinished events of these partitions (what a drain waits for)."""
        total = 0
        for tp in tps:
            state = self._parts.get(tp)
            if state is not None:
                total += len(state.pending)
        return total

    def oldest_unfinished(self, now: float) -> dict[TopicPartitionKey, float]:
        """Per owned partition, seconds since its oldest unfinished event was taken."""
        ages = {}
        for tp, state in self._parts.items():
            marks = state.marks
            if not state.taken:
                marks.clear()
                state.stamp = -1.0
                ages[tp] = 0.0
                continue
            head = state.taken[0]
            while len(marks) > 1 and marks[1][0] <= head:
                marks.popleft()
            ages[tp] = max(0.0, now - marks[0][1]) if marks else 0.0
        return ages

    # -- commits ------------------------------------------------------------
    @property
    def finished_since_commit(self) -> int:
        """Events finished since the last commit was sent (or acknowledged, if sync)."""
        return self.finished_total - self._finished_at_send

    def positions(
        self, tps: list[TopicPartitionKey] | None = None, *, force: bool = False
    ) -> dict[TopicPartitionKey, int]:
        """Committable positions.  Unless ``force``: only those not yet acknowledged and not
        waiting for an answer, so a failed commit is sent again and a quiet one is not."""
        out = {}
        for tp in list(self._parts) if tps is None else tps:
            state = self._parts.get(tp)
            if state is None or state.position is None:
                continue
            if force or (state.position != state.committed and state.position != state.sent):
                out[tp] = state.position
        return out

    def mark_sent(self, positions: dict[TopicPartitionKey, int]) -> None:
        """An asynchronous commit of these positions is on its way."""
        for tp, position in positions.items():
            state = self._parts.get(tp)
            if state is not None:
                state.sent = position
        self._finished_at_send = self.finished_total

    def mark_committed(self, positions: dict[TopicPartitionKey, int]) -> None:
        """The broker acknowledged these positions."""
        for tp, position in positions.items():
            state = self._parts.get(tp)
            if state is None:
                continue
            if state.committed is None or position > state.committed:
                state.committed = position
            if state.sent is not None and state.sent <= position:
                state.sent = None
        self._finished_at_send = self.finished_total

    def mark_failed(self, positions: dict[TopicPartitionKey, int]) -> None:
        """A commit of these positions failed: send them again with the next commit."""
        for tp, position in positions.items():
            state = self._parts.get(tp)
            if state is not None and state.sent == position:
                state.sent = None

    # -- test mode ------------------------------------------------------------
    def check_thread(self) -> None:
        """Wrap every method in a check that it runs on the thread that used the tracker
        first (test mode: the consumer loop calls this when ``CHECK_THREADS`` is on)."""
        for name in (
            "assign", "revoke", "owns", "last_begun", "begin", "finish", "outstanding_in",
            "oldest_unfinished", "positions", "mark_sent", "mark_committed", "mark_failed",
        ):  # fmt: skip
            setattr(self, name, self._owned(getattr(self, name)))

    def _owned(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def checked(*args: Any, **kwargs: Any) -> Any:
            me = threading.get_ident()
            if self._owner is None:
                self._owner = me
            elif self._owner != me:
                raise ThreadOwnershipError(
                    f"OffsetTracker.{method.__name__} called from thread "
                    f"{threading.current_thread().name!r}, not from the thread that owns it"
                )
            return method(*args, **kwargs)

        return checked
