"""Per-partition offset tracking: which events are finished, what may be committed.

Events of one partition are taken in offset order and may finish in any
order.  The committable position of a partition is one past the last offset
of its contiguous finished prefix, so a commit never passes an unfinished
event.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["OffsetTracker", "PartitionState", "TopicPartitionKey"]

TopicPartitionKey = tuple[str, int]


@dataclass(slots=True)
class PartitionState:
    taken: deque[int] = field(default_factory=deque)  # unfinished-or-unpopped, in order
    finished: set[int] = field(default_factory=set)
    position: int | None = None  # next offset to commit (last finished prefix + 1)
    committed: int | None = None  # position of the last successful commit

    def advance(self) -> int:
        """Pop the finished prefix; return how many events left the window."""
        popped = 0
        while self.taken and self.taken[0] in self.finished:
            offset = self.taken.popleft()
            self.finished.discard(offset)
            self.position = offset + 1
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
        self.finished_since_commit = 0

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

    def begin(self, tp: TopicPartitionKey, offset: int) -> None:
        self._parts[tp].taken.append(offset)
        self.outstanding += 1

    def finish(self, tp: TopicPartitionKey, offset: int) -> None:
        state = self._parts.get(tp)
        if state is None:  # partition revoked meanwhile: its new owner redoes it
            return
        state.finished.add(offset)
        self.finished_since_commit += 1
        if state.taken[0] == offset:
            self.outstanding -= state.advance()

    def outstanding_in(self, tps: list[TopicPartitionKey]) -> int:
        """Unfinished events of these partitions (what a drain waits for)."""
        total = 0
        for tp in tps:
            state = self._parts.get(tp)
            if state is not None:
                total += state.outstanding - len(state.finished)
        return total

    def positions(
        self, tps: list[TopicPartitionKey] | None = None, *, force: bool = False
    ) -> dict[TopicPartitionKey, int]:
        """Committable positions; unless ``force``, only those moved since the last commit."""
        out = {}
        for tp in list(self._parts) if tps is None else tps:
            state = self._parts.get(tp)
            if state is None or state.position is None:
                continue
            if force or state.position != state.committed:
                out[tp] = state.position
        return out

    def mark_committed(self, positions: dict[TopicPartitionKey, int]) -> None:
        for tp, position in positions.items():
            state = self._parts.get(tp)
            if state is not None:
                state.committed = position
        self.finished_since_commit = 0

    @property
    def assigned(self) -> list[TopicPartitionKey]:
        return list(self._parts)
