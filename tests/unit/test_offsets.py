"""The offset tracker: a commit never passes an unfinished event."""

from __future__ import annotations

from kafkahooks.offsets import OffsetTracker

A = ("calls", 0)
B = ("calls", 1)


def _tracker(*tps: tuple[str, int]) -> OffsetTracker:
    tracker = OffsetTracker()
    tracker.assign(list(tps))
    return tracker


def test_nothing_finished_means_nothing_to_commit() -> None:
    tracker = _tracker(A)
    for offset in (10, 11, 12):
        tracker.begin(A, offset)
    assert tracker.positions() == {}
    assert tracker.outstanding == 3


def test_out_of_order_finishes_commit_only_the_contiguous_prefix() -> None:
    tracker = _tracker(A)
    for offset in range(5):
        tracker.begin(A, offset)
    tracker.finish(A, 1)
    tracker.finish(A, 2)
    assert tracker.positions() == {}  # offset 0 still in flight
    tracker.finish(A, 0)
    assert tracker.positions() == {A: 3}  # 0,1,2 done; 3 is next
    tracker.finish(A, 4)
    assert tracker.positions() == {A: 3}  # 3 still holds 4 back
    tracker.finish(A, 3)
    assert tracker.positions() == {A: 5}
    assert tracker.outstanding == 0


def test_offsets_with_gaps_are_fine() -> None:
    # compacted topics and transaction markers leave gaps in offsets
    tracker = _tracker(A)
    for offset in (3, 7, 20):
        tracker.begin(A, offset)
    tracker.finish(A, 7)
    tracker.finish(A, 3)
    assert tracker.positions() == {A: 8}
    tracker.finish(A, 20)
    assert tracker.positions() == {A: 21}


def test_partitions_are_independent() -> None:
    tracker = _tracker(A, B)
    tracker.begin(A, 0)
    tracker.begin(B, 0)
    tracker.begin(B, 1)
    tracker.finish(B, 0)
    assert tracker.positions() == {B: 1}
    assert tracker.outstanding_in([A]) == 1
    assert tracker.outstanding_in([B]) == 1
    assert tracker.outstanding == 2


def test_positions_only_report_what_moved_since_the_last_commit_unless_forced() -> None:
    tracker = _tracker(A, B)
    tracker.begin(A, 0)
    tracker.begin(B, 5)
    tracker.finish(A, 0)
    tracker.finish(B, 5)
    assert tracker.finished_since_commit == 2
    positions = tracker.positions()
    assert positions == {A: 1, B: 6}
    tracker.mark_committed(positions)
    assert tracker.finished_since_commit == 0
    assert tracker.positions() == {}
    assert tracker.positions(force=True) == {A: 1, B: 6}
    assert tracker.positions([B], force=True) == {B: 6}
    tracker.begin(A, 1)
    tracker.finish(A, 1)
    assert tracker.positions() == {A: 2}


def test_revoke_forgets_the_partition_and_its_outstanding_events() -> None:
    tracker = _tracker(A, B)
    for offset in range(3):
        tracker.begin(A, offset)
    tracker.begin(B, 0)
    tracker.finish(A, 2)  # finished but held back by 0 and 1: still in the window
    assert tracker.outstanding == 4
    assert tracker.outstanding_in([A, B]) == 3
    tracker.revoke([A])
    assert not tracker.owns(A)
    assert tracker.assigned == [B]
    assert tracker.outstanding == 1
    assert tracker.outstanding_in([A]) == 0
    assert tracker.positions(force=True) == {}


def test_a_finish_after_revoke_is_ignored() -> None:
    tracker = _tracker(A)
    tracker.begin(A, 0)
    tracker.revoke([A])
    tracker.finish(A, 0)  # a delivery that ended after its partition moved away
    assert tracker.outstanding == 0
    assert tracker.positions(force=True) == {}


def test_reassignment_starts_fresh() -> None:
    tracker = _tracker(A)
    tracker.begin(A, 0)
    tracker.finish(A, 0)
    tracker.revoke([A])
    tracker.assign([A])
    assert tracker.positions(force=True) == {}
    tracker.begin(A, 1)
    tracker.finish(A, 1)
    assert tracker.positions() == {A: 2}


def test_assign_keeps_existing_state() -> None:
    # cooperative rebalancing re-announces partitions a member already owns
    tracker = _tracker(A)
    tracker.begin(A, 0)
    tracker.assign([A, B])
    tracker.finish(A, 0)
    assert tracker.positions() == {A: 1}
    assert set(tracker.assigned) == {A, B}
