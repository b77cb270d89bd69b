"""The dead-letter limit: stop a partition's consumption instead of dead-lettering it all."""

from __future__ import annotations

import pytest

from kafkahooks.config.sources import DeadLetterLimitConfig
from kafkahooks.engine.dlqlimit import DeadLetterLimit, DeadLetterLimitExceeded

TP = ("calls", 0)


def test_more_than_n_dead_letters_in_a_row_stop_at_the_next_one() -> None:
    limit = DeadLetterLimit(DeadLetterLimitConfig(max_consecutive=3, max_ratio=None))
    for offset in range(3):
        limit.dead_letter(TP, offset)
    with pytest.raises(DeadLetterLimitExceeded, match=r"calls/0 at offset 3: 4 dead letters in a"):
        limit.dead_letter(TP, 3)


def test_a_good_outcome_breaks_the_run_and_partitions_count_apart() -> None:
    limit = DeadLetterLimit(DeadLetterLimitConfig(max_consecutive=2, max_ratio=None))
    limit.dead_letter(TP, 0)
    limit.dead_letter(TP, 1)
    limit.ok(TP)
    limit.dead_letter(TP, 3)
    limit.dead_letter(("calls", 1), 0)
    limit.dead_letter(("calls", 1), 1)
    limit.dead_letter(TP, 4)
    with pytest.raises(DeadLetterLimitExceeded):
        limit.dead_letter(TP, 5)


def test_ratio_over_the_last_window_once_the_window_is_full() -> None:
    limit = DeadLetterLimit(DeadLetterLimitConfig(max_consecutive=None, max_ratio=0.5, window=10))
    limit.dead_letter(TP, 0)
    limit.dead_letter(TP, 1)  # 2 of 2, but the window is not full yet
    limit.ok(TP, 3)
    for offset in (5, 6, 7):
        limit.dead_letter(TP, offset)  # 5 of 8: still not full
    limit.ok(TP, 2)  # D D O O O D D D O O: 5 of the last 10, not more than half
    limit.dead_letter(TP, 10)  # pushes out a dead letter: still 5 of 10
    limit.dead_letter(TP, 11)
    with pytest.raises(DeadLetterLimitExceeded, match="6 of the last 10 events"):
        limit.dead_letter(TP, 12)  # pushes out a good one


def test_disabled_limit_never_stops() -> None:
    limit = DeadLetterLimit(DeadLetterLimitConfig(enabled=False, max_consecutive=0))
    for offset in range(1000):
        limit.dead_letter(TP, offset)
