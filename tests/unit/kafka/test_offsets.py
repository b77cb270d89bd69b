"""The offset tracker: a commit never passes an unfinished event."""

from __future__ import annotations

import threading

import pytest

from kafkahooks.kafka.offsets import OffsetTracker, ThreadOwnershipError

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


def test_the_tracker_refuses_an_offset_not_above_the_last_one_begun() -> None:
    tracker = OffsetTracker()
    tracker.assign([A])
    tracker.begin(A, 5)
    with pytest.raises(RuntimeError, match="offset 5 of calls/0 begun after offset 5"):
        tracker.begin(A, 5)
    with pytest.raises(RuntimeError):
        tracker.begin(A, 3)


def test_a_finish_of_an_offset_never_begun_is_ignored_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = OffsetTracker()
    tracker.assign([A])
    tracker.begin(A, 1)
    tracker.begin(A, 3)
    tracker.finish(A, 2)  # never begun
    tracker.finish(A, 1)
    tracker.finish(A, 1)  # twice
    assert tracker.positions() == {A: 2}
    assert tracker.outstanding == 1
    assert tracker.finished_since_commit == 1
    assert [r.message for r in caplog.records].count("finish of an offset never begun ignored") == 2


def test_a_failed_commit_is_sent_again_and_an_acknowledged_one_is_not() -> None:
    tracker = _tracker(A)
    tracker.begin(A, 0)
    tracker.finish(A, 0)
    sent = tracker.positions()
    assert sent == {A: 1}
    tracker.mark_sent(sent)
    assert tracker.positions() == {}  # on its way: not sent twice
    tracker.mark_failed(sent)
    assert tracker.positions() == {A: 1}  # refused: goes out again, the partition quiet
    tracker.mark_sent(sent)
    tracker.mark_committed(sent)
    assert tracker.positions() == {}
    assert tracker.positions(force=True) == {A: 1}


def test_a_late_answer_for_an_older_position_moves_nothing_back() -> None:
    tracker = _tracker(A)
    for offset in range(2):
        tracker.begin(A, offset)
    tracker.finish(A, 0)
    tracker.mark_sent({A: 1})
    tracker.finish(A, 1)
    tracker.mark_sent({A: 2})
    tracker.mark_committed({A: 2})
    tracker.mark_committed({A: 1})  # the first answer arrives last
    tracker.mark_failed({A: 1})
    assert tracker.positions() == {}


def test_the_age_of_the_oldest_unfinished_event_follows_the_head() -> None:
    tracker = _tracker(A, B)
    tracker.clock = 100.0
    tracker.begin(A, 0)
    tracker.begin(A, 1)
    tracker.clock = 105.0
    tracker.begin(A, 2)
    assert tracker.oldest_unfinished(110.0) == {A: 10.0, B: 0.0}
    tracker.finish(A, 1)
    assert tracker.oldest_unfinished(110.0)[A] == 10.0  # 0 is still unfinished
    tracker.finish(A, 0)
    assert tracker.oldest_unfinished(110.0)[A] == 5.0  # 2 was taken at 105
    tracker.finish(A, 2)
    assert tracker.oldest_unfinished(110.0)[A] == 0.0


def test_the_thread_check_refuses_a_second_thread() -> None:
    tracker = OffsetTracker()
    tracker.check_thread()
    tracker.assign([A])  # this thread owns it now
    failures: list[BaseException] = []

    def elsewhere() -> None:
        try:
            tracker.revoke([A])
        except ThreadOwnershipError as exc:
            failures.append(exc)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert len(failures) == 1
    assert "OffsetTracker.revoke" in str(failures[0])
    assert tracker.owns(A)
