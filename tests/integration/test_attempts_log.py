"""The API's attempts read model on the real test broker: the follower catches up and then
picks up new attempts; a ``since`` older than memory is read from the log from
``offsets_for_times``; records keyed the old way (by event id) are still found."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from kafkahooks.api.attemptlog import EndpointAttempts, open_endpoint_attempts
from kafkahooks.api.attempts import StatusFilter
from kafkahooks.kafka import (
    AckedProducer,
    AttemptRecord,
    DeliveryLog,
    DeliveryLogError,
    DeliveryLogFollower,
    partition_for,
)
from tests.support.kafka import create_topic, unique

HOUR = 3600.0


@pytest.fixture
def props(bootstrap: str) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap}


@pytest.fixture
def log_topic(bootstrap: str) -> str:
    return create_topic(bootstrap, unique("deliveries"), partitions=3)


@pytest.fixture
def bridge_log(props: dict[str, Any], log_topic: str) -> Iterator[DeliveryLog]:
    """The delivery log as a bridge writes it (the same producer and keys)."""
    producer = AckedProducer(props, "test-bridge")
    yield DeliveryLog(producer, log_topic)
    producer.close(10)


def backdated(props: dict[str, Any], topic: str, records: list[AttemptRecord], key: str) -> None:
    """Records written in the past: their Kafka timestamp is their ``at``."""
    producer = Producer({**props, "linger.ms": 2})
    for r in records:
        k = (r.endpoint_id or r.event_id) if key == "endpoint" else r.event_id
        producer.produce(topic, r.encode(), k.encode(), timestamp=int(r.at * 1000))
    assert producer.flush(15) == 0


def attempt(at: float, endpoint: str, event: str, status: int = 200) -> AttemptRecord:
    error = None if status < 300 else f"HTTP {status}"
    return AttemptRecord(event, "calls", 1, status, 12.0, error, at, None, endpoint, "call.ended")


def flush(log: DeliveryLog) -> None:
    assert log._producer._producer is not None
    assert log._producer._producer.flush(15) == 0


def test_the_follower_catches_up_then_picks_up_new_attempts(
    props: dict[str, Any], log_topic: str, bridge_log: DeliveryLog
) -> None:
    for i in range(5):
        bridge_log.record(f"evt_{i}", "calls", 1, 200, 0.01, None, endpoint_id="ep_A",
                          event_type="call.ended")  # fmt: skip
    bridge_log.record("evt_x", "calls", 2, 503, 0.2, "HTTP 503", "busy", endpoint_id="ep_B")
    bridge_log.record("evt_fixed", "calls", 1, 200, 0.01, None)  # a fixed endpoint: not kept
    flush(bridge_log)
    with open_endpoint_attempts(props, log_topic, timeout=30) as model:
        assert model.load.records == 7 and model.load.partitions == 3
        page = model.attempts("ep_A")
        assert [a.event_id for a in page.attempts] == [f"evt_{i}" for i in range(4, -1, -1)]
        assert page.source == "memory" and page.complete
        assert page.attempts[0].event_type == "call.ended"

        bridge_log.record("evt_new", "calls", 3, 500, 0.05, "HTTP 500", endpoint_id="ep_A")
        flush(bridge_log)
        model.sync(15)  # the follower thread applied it
        failed = model.attempts("ep_A", status=StatusFilter.parse("failed"))
        (row,) = failed.attempts
        assert (row.event_id, row.attempt, row.status, row.error) == (
            "evt_new", 3, 500, "HTTP 500"
        )  # fmt: skip
        stats = model.stats("ep_A")
        assert (stats.attempts, stats.deliveries, stats.failures) == (6, 5, 1)
        assert stats.p50 is not None and stats.p50.low_ms < 10.0 <= (stats.p50.high_ms or 0)


def test_a_since_older_than_memory_reads_the_log(props: dict[str, Any], log_topic: str) -> None:
    now = time.time()
    old = [attempt(now - 40 * HOUR, "ep_A", "evt_40h"), attempt(now - 30 * HOUR, "ep_A", "evt_30h")]
    old += [attempt(now - 30 * HOUR + i, "ep_B", f"evt_b{i}") for i in range(20)]
    backdated(props, log_topic, old, key="endpoint")
    backdated(props, log_topic, [attempt(now - 60, "ep_A", "evt_recent", 503)], key="endpoint")
    with open_endpoint_attempts(props, log_topic, timeout=30) as model:
        assert model.attempts("ep_A").attempts[0].event_id == "evt_recent"
        page = model.attempts("ep_A", since=now - 31 * HOUR)  # before the 25 h window
        assert page.source == "log" and page.complete
        assert [a.event_id for a in page.attempts] == ["evt_recent", "evt_30h"]
        ok = model.attempts("ep_A", since=now - 31 * HOUR, status=StatusFilter.parse("2xx"))
        assert [a.event_id for a in ok.attempts] == ["evt_30h"]


def test_the_log_read_starts_at_the_offset_for_since(
    props: dict[str, Any], log_topic: str, bridge_log: DeliveryLog
) -> None:
    """``offsets_for_times`` on the test broker answers by the time a record was appended
    (DESIGN facts): the records here are written in real time, a second apart."""
    for i in range(3):
        bridge_log.record(f"evt_old{i}", "calls", 1, 200, 0.01, None, endpoint_id="ep_A")
    flush(bridge_log)
    time.sleep(1.2)
    since = time.time()
    for i in range(5):
        bridge_log.record(f"evt_new{i}", "calls", 1, 200, 0.01, None, endpoint_id="ep_A")
    flush(bridge_log)
    with open_endpoint_attempts(props, log_topic, timeout=30, keep=2) as model:
        page = model.attempts("ep_A", since=since, limit=100)  # the ring of 2 cannot say
        assert page.source == "log"
        assert [a.event_id for a in page.attempts] == [f"evt_new{i}" for i in range(4, -1, -1)]
        read = model.follower.read_endpoint("ep_A", since, limit=100, timeout=10)
        assert read.scanned == 5  # the 3 older records were not read


def test_a_full_ring_sends_an_older_since_to_the_log(props: dict[str, Any], log_topic: str) -> None:
    now = time.time()
    records = [attempt(now - 600 + i, "ep_A", f"evt_{i}") for i in range(8)]
    backdated(props, log_topic, records, key="endpoint")
    with open_endpoint_attempts(props, log_topic, timeout=30, keep=3) as model:
        assert [a.event_id for a in model.attempts("ep_A").attempts] == ["evt_7", "evt_6", "evt_5"]
        page = model.attempts("ep_A", since=now - 600, limit=100)
        assert page.source == "log"
        assert [a.event_id for a in page.attempts] == [f"evt_{i}" for i in range(7, -1, -1)]


def test_records_keyed_by_event_id_before_the_upgrade_are_still_found(
    props: dict[str, Any], log_topic: str
) -> None:
    now = time.time()
    legacy = [attempt(now - 3000 + i, "ep_A", f"evt_{i}") for i in range(12)]
    backdated(props, log_topic, legacy, key="event")  # spread over the 3 partitions
    with open_endpoint_attempts(props, log_topic, timeout=30, keep=2) as model:
        assert model.follower.legacy == 12
        page = model.attempts("ep_A", since=now - 4000, limit=100)
        assert page.source == "log"
        assert sorted(a.event_id for a in page.attempts) == sorted(r.event_id for r in legacy)


def test_a_missing_delivery_log_topic_is_refused(props: dict[str, Any]) -> None:
    follower = DeliveryLogFollower(props, unique("missing"), lambda _: None, start=0.0)
    try:
        with pytest.raises(DeliveryLogError, match="does not exist"):
            follower.load(10)
    finally:
        follower.close(1)


def test_the_model_type_is_the_one_the_package_exports() -> None:
    from kafkahooks import api

    assert api.EndpointAttempts is EndpointAttempts


def test_partition_for_is_where_the_default_partitioner_puts_a_key(
    props: dict[str, Any], log_topic: str
) -> None:
    producer = Producer(props)
    placed: dict[bytes, int] = {}
    for i in range(30):
        key = f"ep_{i:026d}".encode()
        producer.produce(
            log_topic,
            b"{}",
            key,
            on_delivery=lambda _e, m: placed.__setitem__(m.key(), m.partition()),
        )
    assert producer.flush(15) == 0
    assert placed == {key: partition_for(key, 3) for key in placed} and len(placed) == 30
