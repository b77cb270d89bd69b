"""The offset tracker's sparse rule (topics of routes with ``endpoints:``): the window counts
unfinished events only, finished ones behind them are held as offsets, persisted as progress
records and skipped by the partition's next owner."""

from __future__ import annotations

import pytest

from kafkahooks.kafka.offsets import OffsetTracker
from kafkahooks.kafka.progress import Progress

T = ("tenants", 0)  # a sparse topic
S = ("static", 0)  # a dense one


def _tracker(*tps: tuple[str, int]) -> OffsetTracker:
    tracker = OffsetTracker()
    tracker.set_sparse(frozenset({"tenants"}))
    tracker.assign(list(tps))
    return tracker


def _stuck_head(tracker: OffsetTracker, tp: tuple[str, int], n: int) -> None:
    """Offsets 0..n-1 begun; all but 0 finished."""
    for offset in range(n):
        tracker.begin(tp, offset)
    for offset in range(1, n):
        tracker.finish(tp, offset)


def test_the_window_counts_unfinished_events_only_and_keeps_finished_ones_behind() -> None:
    tracker = _tracker(T)
    _stuck_head(tracker, T, 10)
    assert tracker.outstanding == 1  # only the stuck event counts
    assert tracker.kept == 10  # the nine behind it are still held
    assert tracker.positions() == {}  # nothing passes the stuck one
    tracker.finish(T, 0)
    assert tracker.positions() == {T: 10}
    assert (tracker.outstanding, tracker.kept, tracker.held) == (0, 0, 0)


def test_a_dense_partition_keeps_todays_rule_beside_a_sparse_one() -> None:
    tracker = _tracker(T, S)
    _stuck_head(tracker, T, 5)
    _stuck_head(tracker, S, 5)
    assert tracker.outstanding == 1 + 5  # sparse: its unfinished one; dense: all five
    assert tracker.kept == 10
    tracker.finish(S, 0)
    assert (tracker.outstanding, tracker.kept) == (1, 5)


def test_revoke_gives_back_what_the_partition_counted() -> None:
    tracker = _tracker(T, S)
    _stuck_head(tracker, T, 4)
    tracker.begin(T, 4)  # a second unfinished one
    _stuck_head(tracker, S, 3)
    tracker.revoke([T])
    assert (tracker.outstanding, tracker.kept) == (3, 3)
    tracker.revoke([S])
    assert (tracker.outstanding, tracker.kept) == (0, 0)


def test_a_reload_changes_the_rule_of_owned_partitions_at_once() -> None:
    tracker = _tracker(T)
    _stuck_head(tracker, T, 6)
    assert tracker.outstanding == 1
    tracker.set_sparse(frozenset())
    assert tracker.outstanding == 6  # dense again: the finished five count
    tracker.set_sparse(frozenset({"tenants"}))
    assert tracker.outstanding == 1
    tracker.finish(T, 0)
    assert (tracker.outstanding, tracker.kept) == (0, 0)


def test_progress_names_the_finished_ranges_above_the_position_once_per_change() -> None:
    tracker = _tracker(T, S)
    for offset in range(10):
        tracker.begin(T, offset)
    for offset in (0, 1, 3, 4, 6, 9):
        tracker.finish(T, offset)
    _stuck_head(tracker, S, 3)  # dense partitions never write progress
    assert tracker.positions() == {T: 2}
    assert tracker.progress() == {
        T: Progress(floor=0, position=2, ranges=((3, 5), (6, 7), (9, 10)))
    }
    assert tracker.progress() == {}  # nothing changed since
    tracker.finish(T, 7)
    assert tracker.progress()[T].ranges == ((3, 5), (6, 8), (9, 10))
    assert tracker.progress([T], force=True)[T].ranges == ((3, 5), (6, 8), (9, 10))


def test_ranges_run_across_offsets_without_a_record() -> None:
    # compacted topics and transaction markers leave gaps: skipping no record changes nothing
    tracker = _tracker(T)
    for offset in (3, 7, 20, 30, 31):
        tracker.begin(T, offset)
    tracker.finish(T, 7)
    tracker.finish(T, 31)
    assert tracker.progress()[T] == Progress(0, 3, ((4, 20), (21, 30), (31, 32)))


def test_progress_is_cleared_once_nothing_is_held_and_not_written_when_never_held() -> None:
    tracker = _tracker(T)
    tracker.begin(T, 0)
    tracker.finish(T, 0)
    assert tracker.progress() == {}  # a healthy partition writes nothing
    tracker.begin(T, 1)
    tracker.begin(T, 2)
    tracker.finish(T, 2)
    assert T in tracker.progress()
    tracker.finish(T, 1)
    assert tracker.progress() == {T: None}  # clear the record: a tombstone
    assert tracker.progress() == {}


def test_the_floor_is_the_last_acknowledged_commit_or_the_loaded_records() -> None:
    tracker = _tracker(T, ("tenants", 1))
    for offset in range(100, 104):
        tracker.begin(T, offset)
    tracker.finish(T, 100)
    tracker.finish(T, 102)
    assert tracker.progress()[T] == Progress(0, 101, ((102, 103),))  # no commit yet: unknown
    tracker.mark_committed({T: 101})
    tracker.finish(T, 103)
    assert tracker.progress()[T] == Progress(101, 101, ((102, 104),))
    # a new owner knows what its predecessor knew was committed, until its own commit
    U = ("tenants", 1)
    tracker.load_progress(U, Progress(40, 42, ((45, 46),)))
    for offset in range(42, 48):
        if not tracker.skip(U, offset):
            tracker.begin(U, offset)
    tracker.finish(U, 47)
    assert tracker.progress()[U] == Progress(40, 42, ((45, 46), (47, 48)))


def test_a_failed_progress_write_is_written_again() -> None:
    tracker = _tracker(T)
    _stuck_head(tracker, T, 3)
    assert T in tracker.progress()
    tracker.progress_failed([T])
    assert T in tracker.progress()


def test_offsets_a_previous_owner_finished_are_skipped_and_pass_the_position() -> None:
    tracker = _tracker(T)
    tracker.load_progress(T, Progress(floor=5, position=5, ranges=((6, 8), (10, 11))))
    assert T in tracker.skipping
    taken = []
    for offset in range(5, 13):
        if not tracker.skip(T, offset):
            tracker.begin(T, offset)
            taken.append(offset)
    assert taken == [5, 8, 9, 11, 12]
    assert T not in tracker.skipping  # every range passed
    assert tracker.outstanding == 5
    for offset in taken:
        tracker.finish(T, offset)
    assert tracker.positions() == {T: 13}
    assert tracker.progress() == {T: None}  # the loaded record is cleared


def test_a_record_is_ignored_when_reading_starts_below_its_floor(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # offsets reset by an operator, or the topic recreated: the record is not about these
    tracker = _tracker(T)
    tracker.load_progress(T, Progress(floor=50, position=50, ranges=((52, 60),)))
    assert not tracker.skip(T, 0)
    assert T not in tracker.skipping
    assert "progress record ignored" in caplog.text


def test_a_record_loaded_after_records_were_taken_is_not_used() -> None:
    tracker = _tracker(T)
    tracker.begin(T, 0)
    tracker.load_progress(T, Progress(0, 0, ((1, 3),)))
    assert T not in tracker.skipping
