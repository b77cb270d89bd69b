"""The delivery-attempt log: one compact JSON record per HTTP attempt, keyed by event id."""

from __future__ import annotations

import json
import time

from kafkahooks.event import Headers
from kafkahooks.kafka.deliverylog import AttemptRecord, DeliveryLog

FIELDS = {
    "event_id",
    "route",
    "attempt",
    "status",
    "latency_ms",
    "error",
    "at",
    "excerpt",
    "endpoint_id",
}


def test_a_record_encodes_every_field_as_compact_json() -> None:
    record = AttemptRecord("evt_1", "calls", 2, 503, 12.34, "HTTP 503", 1_718_000_000.5)
    raw = record.encode()
    assert b", " not in raw and b": " not in raw  # compact: one log record is small
    assert json.loads(raw) == {
        "event_id": "evt_1",
        "route": "calls",
        "attempt": 2,
        "status": 503,
        "latency_ms": 12.34,
        "error": "HTTP 503",
        "at": 1_718_000_000.5,
        "excerpt": None,
        "endpoint_id": None,  # a fixed endpoint's attempt (issue 15: customer endpoints)
    }


def test_an_attempt_without_a_response_has_null_status() -> None:
    decoded = json.loads(AttemptRecord("evt_2", "calls", 1, None, 10_000.0, "timeout", 0).encode())
    assert set(decoded) == FIELDS
    assert decoded["status"] is None and decoded["error"] == "timeout"


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, Headers]] = []

    def send_nowait(
        self, topic: str, value: bytes | None, key: bytes | None, headers: Headers
    ) -> None:
        self.sent.append((topic, value, key, headers))


def test_the_log_writes_latency_in_milliseconds_keyed_by_event_id() -> None:
    producer = FakeProducer()
    log = DeliveryLog(producer, "kafkahooks.deliveries")  # type: ignore[arg-type]
    before = time.time()
    log.record("evt_3", "calls", 1, 200, latency=0.0123456, error=None)
    ((topic, value, key, headers),) = producer.sent
    assert (topic, key, headers) == ("kafkahooks.deliveries", b"evt_3", [])
    assert value is not None
    decoded = json.loads(value)
    assert decoded["latency_ms"] == 12.35
    assert decoded["status"] == 200 and decoded["error"] is None
    assert before <= decoded["at"] <= time.time()
