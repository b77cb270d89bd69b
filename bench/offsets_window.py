"""The offset tracker's cost per event under both window rules (``kafka/offsets.py``).

Begin + finish of N offsets on one partition, best of R runs, for: the dense rule (fixed
endpoints) with every event finishing in order; the sparse rule (topics of routes with
``endpoints:``) the same way; and both behind one stuck head, where the dense rule's
window would be full after ``WINDOW`` events and the sparse rule holds the finished
offsets instead.  Then what making one progress record costs (on the event loop, at most
twice a second while something is held) for a partition at the default limits: 5,000
unfinished events (``WINDOW``) spread evenly among 50,000 finished ones (``HELD_MAX``):
5,001 ranges, the most those limits allow::

    PYTHONPATH=src .venv/bin/python bench/offsets_window.py [N] [R]
"""

from __future__ import annotations

import sys
import time

from kafkahooks.kafka.offsets import OffsetTracker
from kafkahooks.kafka.progress import encode_progress

TP = ("t", 0)


def per_event(sparse: bool, stuck: bool, n: int) -> float:
    tracker = OffsetTracker()
    if sparse:
        tracker.set_sparse(frozenset({"t"}))
    tracker.assign([TP])
    if stuck:
        tracker.begin(TP, 0)
    begin, finish = tracker.begin, tracker.finish
    started = time.perf_counter()
    for offset in range(1, n):
        begin(TP, offset)
        finish(TP, offset)
    return (time.perf_counter() - started) / n * 1e9


def progress_record(unfinished: int, held: int) -> tuple[float, int]:
    tracker = OffsetTracker()
    tracker.set_sparse(frozenset({"t"}))
    tracker.assign([TP])
    total = unfinished + held
    every = total // unfinished
    for offset in range(total):
        tracker.begin(TP, offset)
    for offset in range(total):
        if offset % every:
            tracker.finish(TP, offset)
    started = time.perf_counter()
    record = tracker.progress(force=True)[TP]
    assert record is not None
    data = encode_progress(record)
    return (time.perf_counter() - started) * 1e3, len(data)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    for name, sparse, stuck in (
        ("dense, in order", False, False),
        ("sparse, in order", True, False),
        ("dense, behind a stuck head", False, True),
        ("sparse, behind a stuck head", True, True),
    ):
        best = min(per_event(sparse, stuck, n) for _ in range(runs))
        print(f"{name:30} {best:6.0f} ns per begin + finish")
    for unfinished, held in ((50, 5_000), (5_000, 50_000)):
        ms, size = progress_record(unfinished, held)
        print(
            f"progress record, {unfinished:,} unfinished among {held:,} finished: "
            f"{ms:.1f} ms, {size:,} bytes"
        )


if __name__ == "__main__":
    main()
