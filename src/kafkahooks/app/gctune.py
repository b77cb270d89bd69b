"""Garbage-collector settings for a long-running delivery process.

The cyclic collector's full passes walk every live object, and a bridge keeps
a window of events (with their tasks, contexts and payloads) alive.  With
CPython's default thresholds, full passes stalled the event loop for up to
137 ms, 16 times in a 12 s run against a 50 ms receiver (1.5 s in all), and
every answer that arrived meanwhile waited: attempts took 66 ms on average
instead of ~51 (``bench/throughput.py`` with a 50 ms receiver).

So: objects made at start-up (modules, settings, compiled routes) are frozen
out of the collector's sight, and young collections run less often.
Reference counting still frees almost everything at once; the collector is
only needed for cycles, which the delivery path does not make per event.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused", "tune_gc"]

# young generation: collect after this many net allocations (default 700)
YOUNG = 10_000
# each older generation: after this many collections of the one below (defaults 10, 10)
OLDER = 20


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, OLDER, OLDER)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside: for reading the endpoint store at start, whose
    records make no cycles but leave ~5 tracked objects each alive, so the collector's
    passes walk an ever larger heap for nothing (applying 100,000 endpoint records took
    6.65-7.15 s of CPU with the collector on, 5.17-6.52 s paused, three runs each, one
    process).
    Reference counting still frees everything; a pass runs afterwards as usual."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
