"""Parked events: a retry-topic record carries the original event back unchanged."""

from __future__ import annotations

import time

import pytest

from kafkahooks.event import Event, event_id
from kafkahooks.parking import park_headers, read_parked


def _source() -> Event:
    return Event(
        topic="calls.status",
        partition=3,
        offset=1207,
        timestamp=1_718_000_000_123,
        key=b"call-9",
        raw_value=b'{"event":"status-changed"}',
        headers=[("trace-id", b"t-1"), ("trace-id", b"t-2"), ("empty", None)],
    )


def _on_retry_topic(original: Event, headers: list[tuple[str, str | bytes | None]]) -> Event:
    """The record as a consumer of the retry topic sees it: new coordinates, same bytes."""
    return Event(
        "kafkahooks.retry.calls.0",
        0,
        5,
        1_718_000_100_000,
        original.key,
        original.raw_value,
        headers,
    )


def test_a_parked_event_comes_back_with_its_source_coordinates_and_event_id() -> None:
    source = _source()
    before = time.time()
    headers = park_headers(source, "calls", tier=0, delay=60, attempts=5, reason="HTTP 503")
    after = time.time()

    parked = read_parked(_on_retry_topic(source, headers))

    assert (parked.route, parked.tier, parked.attempts) == ("calls", 0, 5)
    assert before + 60 - 0.001 <= parked.not_before <= after + 60 + 0.001
    original = parked.original
    assert (original.topic, original.partition, original.offset, original.timestamp) == (
        "calls.status",
        3,
        1207,
        1_718_000_000_123,
    )
    assert (original.key, original.raw_value) == (source.key, source.raw_value)
    assert original.headers == source.headers  # repeats and nulls kept, in order
    # so the receiver sees the same webhook id on every try, parked or not
    assert event_id(
        original.topic, original.partition, original.offset, original.timestamp, "calls"
    ) == event_id(source.topic, source.partition, source.offset, source.timestamp, "calls")


def test_parking_again_replaces_the_previous_tier_headers() -> None:
    first = read_parked(
        _on_retry_topic(_source(), park_headers(_source(), "calls", 0, 1, 5, "HTTP 503"))
    ).original
    headers = park_headers(first, "calls", tier=1, delay=2, attempts=10, reason="timeout")
    retry_names = [k for k, _ in headers if k.startswith("kafkahooks.retry.")]
    assert len(retry_names) == len(set(retry_names))

    again = read_parked(_on_retry_topic(first, headers))
    assert (again.tier, again.attempts) == (1, 10)
    assert again.original.offset == 1207  # still the source offset, not the retry topic's
    assert dict(headers)["kafkahooks.retry.reason"] == b"timeout"


def test_a_long_failure_reason_is_cut_to_500_characters() -> None:
    headers = dict(park_headers(_source(), "calls", 0, 1, 1, "x" * 5000))
    assert headers["kafkahooks.retry.reason"] == b"x" * 500


def test_a_record_without_retry_headers_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a parked record"):
        read_parked(_source())


def test_a_record_with_a_malformed_retry_header_is_rejected() -> None:
    headers = park_headers(_source(), "calls", 0, 1, 1, "HTTP 500")
    broken = [(k, b"soon" if k == "kafkahooks.retry.tier" else v) for k, v in headers]
    with pytest.raises(ValueError, match="not a parked record"):
        read_parked(_on_retry_topic(_source(), broken))
