"""The delivery-attempt log: one compact JSON record per HTTP attempt, keyed by the customer
endpoint's id (else the event id); old records without ``event_type`` still decode."""

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
    "event_type",
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
        "event_type": None,  # the route reads no type (issue 17)
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


def test_a_customer_endpoints_attempt_is_keyed_by_the_endpoint_and_names_the_event_type() -> None:
    producer = FakeProducer()
    log = DeliveryLog(producer, "kafkahooks.deliveries")  # type: ignore[arg-type]
    log.record("evt_4", "calls", 1, 200, 0.01, None, endpoint_id="ep_1", event_type="call.ended")
    ((_, value, key, _),) = producer.sent
    assert key == b"ep_1"  # one endpoint's attempts in one partition
    decoded = AttemptRecord.decode(value)
    assert decoded is not None
    assert (decoded.endpoint_id, decoded.event_type) == ("ep_1", "call.ended")


def test_a_record_written_before_event_type_existed_still_decodes() -> None:
    old = (
        b'{"event_id":"evt_5","route":"calls","attempt":2,"status":503,"latency_ms":4.5,'
        b'"error":"HTTP 503","at":1700000000.0,"excerpt":"busy","endpoint_id":"ep_2"}'
    )
    assert AttemptRecord.decode(old) == AttemptRecord(
        "evt_5", "calls", 2, 503, 4.5, "HTTP 503", 1_700_000_000.0, "busy", "ep_2", None
    )


def test_what_is_not_an_attempt_record_decodes_to_none() -> None:
    for raw in (b"", b"not json", b"[1]", b'{"marker":"x"}', b'{"event_id":"e"}', None):
        assert AttemptRecord.decode(raw) is None
