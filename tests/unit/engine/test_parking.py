"""Parked events: a retry-topic record carries the original event back unchanged."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from kafkahooks.config.models import RouteConfig
from kafkahooks.config.sources import (
    DeadLetterLimitConfig,
    RegistryAvroFormat,
    SchemaRegistryConfig,
    SourceConfig,
)
from kafkahooks.decode import Decoders, RegistryUnavailableError
from kafkahooks.demo.broker import free_port
from kafkahooks.engine.deadletter import DeadLetter
from kafkahooks.engine.dlqlimit import DeadLetterLimit
from kafkahooks.engine.parking import park_headers, read_parked
from kafkahooks.event import Event, event_id
from kafkahooks.telemetry.metrics import METRICS
from tests.support.pipelines import Harness, route_config, until


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


# -- parked records in the pipeline: never finished without an outcome -------------------

PREFIX = "retry.calls"  # explicit, so a renamed route keeps reading the same retry topics
RETRY_TOPIC = f"{PREFIX}.1"


def _parked_record(route: str = "calls", original: Event | None = None, offset: int = 5) -> Event:
    """A due record on the first retry topic, parked for ``route``."""
    source = original or Event(
        "calls.status",
        3,
        1207,
        1_718_000_000_123,
        b"call-9",
        b'{"event": "status-changed", "id": 9}',
    )
    headers = park_headers(source, route, tier=1, delay=-1, attempts=4, reason="HTTP 503")
    return Event(RETRY_TOPIC, 0, offset, 1_718_000_100_000, source.key, source.raw_value, headers)


def _retrying(
    name: str = "calls", topics: tuple[str, ...] = ("calls.status",), **options: Any
) -> RouteConfig:
    return route_config(
        name, list(topics), retry_topics={"delays": [1], "prefix": PREFIX}, **options
    )


def _dead_lettered(harness: Harness, record: Event) -> DeadLetter:
    """Accept ``record``, wait for its dead letter, check the retry record finished."""

    async def scenario() -> None:
        harness.tracker.assign([(record.topic, record.partition)])
        assert harness.pipeline.accept(record) is None  # taken
        await until(lambda: harness.finished(record.topic) == record.offset + 1)

    asyncio.run(scenario())
    (dead,) = harness.dead.written
    assert harness.sender.sent == []
    return dead


def _counted(route: str, reason: str) -> float:
    labels = {"route": route, "reason": reason}
    return METRICS.registry.get_sample_value("kafkahooks_dead_lettered_total", labels) or 0.0


def test_a_parked_event_is_retried_for_its_route_and_then_finished() -> None:
    harness = Harness([_retrying()])
    record = _parked_record()

    async def scenario() -> None:
        harness.tracker.assign([(RETRY_TOPIC, 0)])
        assert harness.pipeline.accept(record) is None
        await until(lambda: harness.finished(RETRY_TOPIC) == 6)

    asyncio.run(scenario())
    (request,) = harness.sender.sent
    assert request.headers["webhook-id"] == event_id(
        "calls.status", 3, 1207, 1_718_000_000_123, "calls"
    )
    assert harness.dead.written == []


def test_a_parked_event_whose_route_was_renamed_is_dead_lettered_to_the_source_dlq() -> None:
    before = _counted("calls", "RouteRemovedError")
    harness = Harness([_retrying("calls-v2")])  # same retry topics, another name
    dead = _dead_lettered(harness, _parked_record("calls"))
    assert dead.topic == "calls.status.dlq"  # the route is gone: its source's dead-letter topic
    assert dead.error_class == "RouteRemovedError"
    assert dead.error_message.startswith("route-removed")
    assert dead.route == "calls"
    assert dead.event_id == event_id("calls.status", 3, 1207, 1_718_000_000_123, "calls")
    assert (dead.event.topic, dead.event.offset, dead.attempts) == ("calls.status", 1207, 4)
    assert dead.value == b'{"event": "status-changed", "id": 9}'
    assert _counted("calls", "RouteRemovedError") == before + 1


def test_a_parked_event_whose_route_no_longer_reads_its_topic_goes_to_the_route_dlq() -> None:
    harness = Harness([_retrying(topics=("calls.other",), dead_letter_topic="calls.dead")])
    dead = _dead_lettered(harness, _parked_record())
    assert (dead.topic, dead.error_class) == ("calls.dead", "RouteRemovedError")
    assert "no longer reads 'calls.status'" in dead.error_message


def test_a_parked_event_that_no_longer_decodes_is_dead_lettered_as_undecodable() -> None:
    before = _counted("calls", "ParkedUndecodableError")
    harness = Harness([_retrying()])
    original = Event("calls.status", 3, 1207, 1_718_000_000_123, b"call-9", b"{not json")
    dead = _dead_lettered(harness, _parked_record(original=original))
    assert dead.topic == "calls.status.dlq"
    assert dead.error_class == "ParkedUndecodableError"
    assert dead.error_message.startswith("parked-undecodable")
    assert dead.value == b"{not json"
    assert _counted("calls", "ParkedUndecodableError") == before + 1


def test_a_malformed_retry_record_is_dead_lettered_not_dropped() -> None:
    harness = Harness([_retrying(dead_letter_topic="calls.dead")])
    record = Event(RETRY_TOPIC, 0, 8, 1_718_000_100_000, b"k", b"{}", [("x", b"1")])
    dead = _dead_lettered(harness, record)
    assert (dead.topic, dead.error_class) == ("calls.dead", "ParkedMalformedError")
    assert dead.error_message.startswith("parked-malformed")
    assert (dead.event.topic, dead.event.offset) == (RETRY_TOPIC, 8)


def test_dead_letters_of_config_drift_are_not_counted_by_the_dead_letter_limit() -> None:
    limit = {"max_consecutive": 1, "max_ratio": None}
    harness = Harness(
        [_retrying("calls-v2")],
        dead_letter_limit=DeadLetterLimit(DeadLetterLimitConfig(**limit)),
    )

    async def scenario() -> None:
        harness.tracker.assign([(RETRY_TOPIC, 0)])
        for offset in range(3):
            harness.pipeline.accept(_parked_record("calls", offset=offset))
        await until(lambda: harness.finished(RETRY_TOPIC) == 3)

    asyncio.run(scenario())
    assert len(harness.dead.written) == 3
    assert harness.pipeline.fatal is None


def test_a_registry_outage_on_a_parked_record_stops_cleanly_and_skips_nothing() -> None:
    registry = SchemaRegistryConfig(url=f"http://127.0.0.1:{free_port()}", max_retries=0, timeout=2)
    sources = {"calls.status": SourceConfig(value=RegistryAvroFormat())}
    harness = Harness([_retrying()], decoders=Decoders(sources, registry))
    original = Event(
        "calls.status", 3, 1207, 1_718_000_000_123, b"call-9", b"\x00\x00\x00\x00\x01\x02"
    )  # wire format: the schema id must be fetched
    record = _parked_record(original=original)
    harness.tracker.assign([(RETRY_TOPIC, 0)])

    assert harness.pipeline.accept(record) is None  # no traceback out of the consumer loop

    assert isinstance(harness.pipeline.fatal, RegistryUnavailableError)
    assert harness.tracker.outstanding_in([(RETRY_TOPIC, 0)]) == 1  # taken, never finished
    assert harness.finished(RETRY_TOPIC) is None
    assert harness.dead.written == []
