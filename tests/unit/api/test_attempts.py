"""The attempts index: a ring of the last 1,000 attempts per endpoint, filters, completeness,
and hourly statistics that roll over 25 h on a fake clock (bucket estimates)."""

from __future__ import annotations

import pytest

from kafkahooks.api.attempts import AttemptIndex, StatusFilter
from kafkahooks.kafka import AttemptRecord

HOUR = 3600.0
T0 = 1_800_000_000.0 - 1_800_000_000.0 % HOUR  # the start of an hour


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rec(
    at: float,
    endpoint: str | None = "ep_1",
    status: int | None = 200,
    latency: float = 10.0,
    event: str = "evt",
    attempt: int = 1,
    event_type: str | None = "call.ended",
) -> AttemptRecord:
    error = None if status is not None and 200 <= status < 300 else f"HTTP {status}"
    if status is None:
        error = "ConnectTimeout: no response"
    return AttemptRecord(
        event, "calls", attempt, status, latency, error, at, None, endpoint, event_type
    )


def test_an_attempt_reads_back_with_every_field_the_api_shows() -> None:
    index = AttemptIndex(T0, clock=Clock(T0 + 60))
    index.add(rec(T0 + 1, status=503, latency=12.5, event="evt_a", attempt=3))
    (row,) = index.attempts("ep_1").attempts
    assert (row.at, row.event_id, row.event_type, row.attempt) == (T0 + 1, "evt_a", "call.ended", 3)
    assert (row.status, row.latency_ms, row.error) == (503, 12.5, "HTTP 503")


def test_no_response_reads_back_as_no_status() -> None:
    index = AttemptIndex(T0, clock=Clock(T0))
    index.add(rec(T0, status=None))
    (row,) = index.attempts("ep_1").attempts
    assert row.status is None and row.error == "ConnectTimeout: no response"


def test_fixed_endpoint_attempts_are_not_kept() -> None:
    index = AttemptIndex(T0, clock=Clock(T0))
    index.add(rec(T0, endpoint=None))
    assert len(index) == 0 and index.added == 0


def test_the_ring_keeps_the_last_1000_attempts_newest_first() -> None:
    index = AttemptIndex(T0, clock=Clock(T0 + 5000))
    index.add_many(rec(T0 + i, event=f"evt_{i}") for i in range(1500))
    answer = index.attempts("ep_1", limit=2000)
    assert [a.event_id for a in answer.attempts] == [f"evt_{i}" for i in range(1499, 499, -1)]
    assert answer.complete  # without since: what is kept


def test_endpoints_are_kept_apart() -> None:
    index = AttemptIndex(T0, clock=Clock(T0))
    index.add_many([rec(T0, endpoint="ep_1", event="a"), rec(T0, endpoint="ep_2", event="b")])
    assert [a.event_id for a in index.attempts("ep_2").attempts] == ["b"]
    assert index.attempts("ep_unknown").attempts == []


def test_limit_gives_the_newest() -> None:
    index = AttemptIndex(T0, clock=Clock(T0 + 100))
    index.add_many(rec(T0 + i, event=f"evt_{i}") for i in range(10))
    assert [a.event_id for a in index.attempts("ep_1", limit=3).attempts] == [
        "evt_9",
        "evt_8",
        "evt_7",
    ]
    with pytest.raises(ValueError):
        index.attempts("ep_1", limit=0)


def test_attempts_out_of_log_order_come_back_by_time() -> None:
    index = AttemptIndex(T0, clock=Clock(T0 + 100))
    index.add_many([rec(T0 + 5, event="late"), rec(T0 + 1, event="early"), rec(T0 + 9, event="x")])
    assert [a.event_id for a in index.attempts("ep_1").attempts] == ["x", "late", "early"]


def test_status_filters() -> None:
    index = AttemptIndex(T0, clock=Clock(T0 + 100))
    statuses: list[int | None] = [200, 503, 500, 404, None, 204]
    index.add_many(rec(T0 + i, status=s, event=f"e{i}") for i, s in enumerate(statuses))

    def ids(text: str) -> list[str]:
        answer = index.attempts("ep_1", status=StatusFilter.parse(text))
        return [a.event_id for a in answer.attempts]

    assert ids("succeeded") == ["e5", "e0"]
    assert ids("failed") == ["e4", "e3", "e2", "e1"]
    assert ids("503") == ["e1"]
    assert ids("5xx") == ["e2", "e1"]
    assert ids("4XX") == ["e3"]
    for bad in ("ok", "5x", "99", "600", ""):
        with pytest.raises(ValueError, match="succeeded, failed"):
            StatusFilter.parse(bad)


def test_since_keeps_attempts_at_or_after_it_and_is_complete_within_what_is_kept() -> None:
    index = AttemptIndex(T0, clock=Clock(T0 + 100))
    index.add_many(rec(T0 + i, event=f"e{i}") for i in range(10))
    answer = index.attempts("ep_1", since=T0 + 7)
    assert [a.event_id for a in answer.attempts] == ["e9", "e8", "e7"]
    assert answer.complete


def test_since_before_the_index_start_is_not_complete() -> None:
    index = AttemptIndex(T0 + 50, clock=Clock(T0 + 100))
    index.add_many(rec(T0 + 50 + i, event=f"e{i}") for i in range(3))
    assert not index.attempts("ep_1", since=T0).complete  # the log may have older ones
    assert not index.attempts("ep_quiet", since=T0).complete
    assert index.attempts("ep_quiet", since=T0 + 60).complete  # nothing since: known empty


def test_since_older_than_a_full_rings_evictions_is_not_complete_unless_limit_is_met() -> None:
    index = AttemptIndex(T0, keep=5, clock=Clock(T0 + 100))
    index.add_many(
        rec(T0 + i, event=f"e{i}", status=503 if i in (1, 8) else 200) for i in range(10)
    )
    # e0..e4 were evicted: since T0 + 3 reaches into them
    assert not index.attempts("ep_1", since=T0 + 3, limit=50).complete
    assert index.attempts("ep_1", since=T0 + 3, limit=2).complete  # e9, e8: newer than any evicted
    assert index.attempts("ep_1", since=T0 + 5, limit=50).complete
    failed = index.attempts("ep_1", since=T0, status=StatusFilter.parse("failed"))
    assert [a.event_id for a in failed.attempts] == ["e8"] and not failed.complete


def test_stats_count_deliveries_and_failures_over_24_hours() -> None:
    clock = Clock(T0 + 30 * 60)
    index = AttemptIndex(T0 - 30 * HOUR, clock=clock)
    index.add_many(rec(T0 - h * HOUR + 10, status=200) for h in range(24))  # 24 past hours
    index.add_many(rec(T0 + 20, status=500) for _ in range(3))  # this hour
    stats = index.stats("ep_1")
    assert (stats.attempts, stats.deliveries, stats.failures) == (27, 24, 3)
    assert stats.since == T0 - 24 * HOUR and stats.until == clock.now
    assert "bucket estimates" in stats.method


def test_hourly_aggregates_roll_over_after_25_hours() -> None:
    clock = Clock(T0 + 10)
    index = AttemptIndex(T0, clock=clock)
    index.add_many(rec(T0 + 1) for _ in range(4))
    clock.now = T0 + 24 * HOUR + 10  # that hour is the oldest still counted
    assert index.stats("ep_1").attempts == 4
    clock.now = T0 + 25 * HOUR + 10  # now it has left the window
    assert index.stats("ep_1").attempts == 0
    index.add(rec(T0 + 25 * HOUR + 20, status=503))  # reuses the old hour's row
    stats = index.stats("ep_1")
    assert (stats.attempts, stats.failures) == (1, 1)
    assert len(index.attempts("ep_1").attempts) == 5  # the ring keeps them all


def test_attempts_older_than_25_hours_count_in_no_hour() -> None:
    clock = Clock(T0 + 30 * HOUR)
    index = AttemptIndex(T0, clock=clock)
    index.add(rec(T0 + 1))  # read during catch-up, too old for the statistics
    index.add(rec(T0 + 30 * HOUR - 5))
    assert index.stats("ep_1").attempts == 1


def test_latency_quantiles_are_bucket_estimates_that_contain_the_truth() -> None:
    index = AttemptIndex(T0, clock=Clock(T0 + 100))
    latencies = [float(ms) for ms in range(1, 101)]  # p50 = 50 ms, p99 = 99 ms
    index.add_many(rec(T0 + 1, latency=ms) for ms in latencies)
    stats = index.stats("ep_1")
    assert stats.p50 is not None and stats.p99 is not None
    for estimate, truth in ((stats.p50, 50.0), (stats.p99, 99.0)):
        assert estimate.high_ms is not None
        assert estimate.low_ms < truth <= estimate.high_ms
        assert estimate.high_ms / estimate.low_ms == pytest.approx(2**0.5, rel=1e-3)
        assert abs(estimate.estimate_ms - truth) / truth < 0.2


def test_latency_extremes_and_untimed_attempts() -> None:
    index = AttemptIndex(T0, clock=Clock(T0 + 100))
    gone = AttemptRecord("e", "calls", 1, None, 0.0, "endpoint deleted", T0, None, "ep_1")
    index.add(gone)  # nothing was sent: counted as a failure, not in the latencies
    stats = index.stats("ep_1")
    assert (stats.failures, stats.p50, stats.p99) == (1, None, None)
    index.add_many([rec(T0, latency=0.2), rec(T0, latency=120_000.0)])
    stats = index.stats("ep_1")
    assert stats.p50 is not None and stats.p50.high_ms == 1.0
    assert stats.p99 is not None and stats.p99.high_ms is None and stats.p99.low_ms == 65_536.0


def test_stats_of_an_endpoint_without_attempts_are_zero() -> None:
    stats = AttemptIndex(T0, clock=Clock(T0)).stats("ep_none")
    assert (stats.attempts, stats.deliveries, stats.failures, stats.p50) == (0, 0, 0, None)


def test_event_ids_of_every_shape_read_back_exactly() -> None:
    index = AttemptIndex(T0, keep=3, clock=Clock(T0 + 100))
    ids = [
        "evt_0123456789abcdef0123456789abcdef",  # the bridge's form: kept as 16 bytes
        "evt_0123456789ABCDEF0123456789ABCDEF",  # not exactly that form: kept as text
        "evt_test_42",
        "evt_ffffffffffffffffffffffffffffffff",
        "batch_x",
    ]
    index.add_many(rec(T0 + i, event=eid) for i, eid in enumerate(ids))
    # the ring of 3 overwrote the first two slots; odd ids of overwritten slots are gone
    assert [a.event_id for a in index.attempts("ep_1").attempts] == ids[:1:-1]
    assert index.kept() == 3


def test_texts_past_the_shared_tables_bound_are_kept_per_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kafkahooks.api import attempts

    monkeypatch.setattr(attempts, "_OVERFLOW", 3)  # the shared table takes 2 texts
    index = AttemptIndex(T0, keep=4, clock=Clock(T0 + 100))
    for i in range(6):
        index.add(AttemptRecord(f"e{i}", "r", 1, 500, 1.0, f"err {i}", T0 + i, None, "ep_1",
                                f"type {i}"))  # fmt: skip
    rows = index.attempts("ep_1").attempts
    assert [(a.event_type, a.error) for a in rows] == [
        (f"type {i}", f"err {i}") for i in range(5, 1, -1)
    ]
