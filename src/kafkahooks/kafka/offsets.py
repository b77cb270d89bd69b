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

Two window rules, chosen per partition by its topic (:meth:`OffsetTracker.set_sparse`):

- **dense** (topics read only by routes with a fixed endpoint): the window counts every
  event taken and not yet passed by the committable position, i.e. unfinished events and
  finished ones behind the oldest unfinished.  A stuck event fills it and pauses: for a
  route's own endpoint that is the backpressure wanted.
- **sparse** (topics read by any route with ``endpoints:``, and their retry topics): the
  window counts unfinished events only.  An event finished behind an unfinished one stays
  as an offset in the partition's ``taken`` deque (an int: no allocation beyond the
  dense rule's) until the position passes it, so one tenant's stuck event does not hold
  up the others.  Memory is bounded by ``kept`` (every offset held, both rules), which the
  consumer loop caps at a multiple of the window (``held_max``).  The finished offsets
  above the position are persisted with each commit (:meth:`OffsetTracker.progress`,
  ``kafka/progress.py``) and skipped by the partition's next owner
  (:meth:`OffsetTracker.skip`).

Per event both rules cost the same few O(1) steps (a deque append, a set add and remove,
a counter or two); the dense path gained one attribute test.  Measured (begin + finish of
300,000 offsets, best of 7, three runs on the shared 2-core machine at load 6): dense
638-711 ns before, 652-782 after; sparse behind a stuck head 507-541 ns (the dense rule
there: 424-480).  Writing the progress of a partition walks its held offsets once per
commit (at most twice a second), never per event.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafkahooks.kafka.progress import Progress

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
    sparse: bool = False  # the window counts unfinished events only (module doc)
    # a progress record's floor while no commit of ours was acknowledged: the loaded
    # record's (its writer knew that much was committed), else unknown (0)
    floor: int = 0
    # (position, finished offsets held) of the last progress record written with something
    # in it, ``_DIRTY`` when one may be in the topic, None when there is none
    written: tuple[int, int] | None = None
    # finished ranges a previous owner persisted (progress topic), skipped when read
    skip: deque[tuple[int, int]] | None = None
    skip_floor: int = 0

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
        """What this partition counts in the window (see the module doc)."""
        return len(self.pending) if self.sparse else len(self.taken)

    @property
    def held(self) -> int:
        """Finished offsets held behind an unfinished one."""
        return len(self.taken) - len(self.pending)

    def finished_ranges(self) -> tuple[tuple[int, int], ...]:
        """The finished offsets above the position as ranges: the gaps between unfinished
        events, and what was taken after the last one.  Sorting the unfinished (at most a
        window's worth) rather than walking every offset held: with 5,000 unfinished among
        50,000 finished, a record took 21-36 ms walked and 5.6 ms this way, encoding
        included (``bench/offsets_window.py``, the shared machine under load).
        A range may run across offsets that have no record (compacted topics, transaction
        markers): skipping a record that does not exist changes nothing."""
        unfinished = sorted(self.pending)  # the head is one of them: the position is below
        ranges = [(a + 1, b) for a, b in itertools.pairwise(unfinished) if b > a + 1]
        if unfinished and self.last > unfinished[-1]:
            ranges.append((unfinished[-1] + 1, self.last + 1))
        return tuple(ranges)


_DIRTY = (-1, -1)  # a progress record may be in the topic: write or clear it next time


class OffsetTracker:
    def __init__(self) -> None:
        self._parts: dict[TopicPartitionKey, PartitionState] = {}
        # The window (module doc): dense partitions count events taken and not yet passed
        # by the committable position, sparse ones their unfinished events.  A crash
        # redelivers at most these plus those finished since the last commit.
        self.outstanding = 0
        # Finished offsets held behind an unfinished one in sparse partitions (in dense ones
        # the window counts them): counted on the sparse path only, so the dense path costs
        # what it did.  ``kept`` = outstanding + held; the consumer loop caps it.
        self.held = 0
        self._sparse: frozenset[str] = frozenset()
        # partitions with finished ranges to skip (the consumer loop looks here per record)
        self.skipping: set[TopicPartitionKey] = set()
        self.finished_total = 0  # events finished since start (health: progress)
        self._finished_at_send = 0
        # the consumer loop's clock at its last poll; records begun now carry it
        self.clock = 0.0
        self._owner: int | None = None

    # -- partitions --------------------------------------------------------
    def assign(self, tps: list[TopicPartitionKey]) -> None:
        for tp in tps:
            if tp not in self._parts:
                self._parts[tp] = PartitionState(sparse=tp[0] in self._sparse)

    def revoke(self, tps: list[TopicPartitionKey]) -> None:
        for tp in tps:
            state = self._parts.pop(tp, None)
            if state is not None:
                self.outstanding -= state.outstanding
                if state.sparse:
                    self.held -= state.held
            self.skipping.discard(tp)

    def set_sparse(self, topics: frozenset[str]) -> None:
        """Partitions of these topics count unfinished events only (module doc); owned
        partitions change rule at once (start-up and hot reload)."""
        self._sparse = frozenset(topics)
        for tp, state in self._parts.items():
            sparse = tp[0] in self._sparse
            if sparse != state.sparse:
                moved = state.held if sparse else -state.held
                self.outstanding -= moved
                self.held += moved
                state.sparse = sparse

    @property
    def kept(self) -> int:
        """Every offset held, both rules: unfinished events and finished ones behind them."""
        return self.outstanding + self.held

    def is_sparse(self, tp: TopicPartitionKey) -> bool:
        """Whether ``tp``'s topic is sparse.  Safe on any thread (not wrapped by the thread
        check): it reads one immutable set that ``set_sparse`` replaces whole; the Kafka
        thread asks it in the assignment callback."""
        return tp[0] in self._sparse

    def load_progress(self, tp: TopicPartitionKey, progress: Progress) -> None:
        """A previous owner's finished offsets above its position: skipped when read
        (before the first record of the partition is begun)."""
        state = self._parts.get(tp)
        if state is None or state.last >= 0:
            return
        state.written = _DIRTY  # rewritten or cleared with the next commit
        state.floor = progress.floor
        if progress.ranges:
            state.skip = deque(progress.ranges)
            state.skip_floor = progress.floor
            self.skipping.add(tp)

    def skip(self, tp: TopicPartitionKey, offset: int) -> bool:
        """Whether the record at ``offset`` was finished by a previous owner: then it is
        begun and finished here at once (the position passes it) and not delivered.
        Only for partitions in ``skipping``; amortised O(1) (offsets come rising)."""
        state = self._parts[tp]
        ranges = state.skip
        if ranges is not None and state.last < 0 and offset < state.skip_floor:
            log.warning(  # offsets reset, or the topic recreated: the record is not ours
                "progress record ignored: reading starts below what it knew was committed",
                extra={"topic": tp[0], "partition": tp[1], "offset": offset,
                       "floor": state.skip_floor},
            )  # fmt: skip
            ranges = None
        while ranges and ranges[0][1] <= offset:
            ranges.popleft()
        if not ranges:
            state.skip = None
            self.skipping.discard(tp)
            return False
        if offset < ranges[0][0]:
            return False
        self.begin(tp, offset)
        self.finish(tp, offset)
        return True

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
        if state.sparse:
            self.outstanding -= 1
            if state.taken[0] == offset:
                self.held -= state.advance() - 1  # it, and the finished ones behind it
            else:
                self.held += 1
        elif state.taken[0] == offset:
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

    def progress(
        self, tps: list[TopicPartitionKey] | None = None, *, force: bool = False
    ) -> dict[TopicPartitionKey, Progress | None]:
        """Progress records to write with the next commit (``None``: clear the partition's
        record): for sparse partitions holding finished offsets above the position, when
        that changed since the last record (or ``force``), and for those whose last record
        held something and that hold nothing now.  Marks them written: a failed write
        calls :meth:`progress_failed`."""
        out: dict[TopicPartitionKey, Progress | None] = {}
        for tp in list(self._parts) if tps is None else tps:
            state = self._parts.get(tp)
            if state is None or not state.sparse:
                continue
            held = state.held
            if held:
                mark = (-1 if state.position is None else state.position, held)
                if force or mark != state.written:
                    out[tp] = self._progress_of(state)
                    state.written = mark
            elif state.written is not None:
                out[tp] = None
                state.written = None
        return out

    @staticmethod
    def _progress_of(state: PartitionState) -> Progress:
        ranges = state.finished_ranges()
        # no position yet: nothing of ours passed the head, the oldest unfinished offset
        position = state.taken[0] if state.position is None else state.position
        floor = state.floor if state.committed is None else state.committed
        return Progress(min(floor, position), position, ranges)

    def progress_failed(self, tps: list[TopicPartitionKey]) -> None:
        """Progress records of these partitions were not written: write them next time."""
        for tp in tps:
            state = self._parts.get(tp)
            if state is not None:
                state.written = _DIRTY

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
            "set_sparse", "load_progress", "skip", "progress", "progress_failed",
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
