"""The delivery-attempt log: one JSON record per HTTP attempt on a Kafka topic.

A failed attempt's record names its error (``HTTP 503``, ``ConnectTimeout: no
response``...) and carries an escaped excerpt of the response body (``excerpt``, at
most 256 characters); a successful one has ``error`` and ``excerpt`` null.

It plays the part of the "webhook logs" of the reference products, without a
database: ``kafkahooks deliveries`` reads it back.  A delivery to a customer endpoint
(``endpoints:`` routes) names it in ``endpoint_id`` (``null`` for a fixed endpoint), so
a delivery is identified by (event id, endpoint id); an attempt that found its
endpoint deleted or disabled is recorded with that error and no status.  Writes are fire-and-forget;
the log never slows or blocks a delivery.

``event_type`` (issue 17) is the event's type as the route read it (``null`` when the
route reads none, or for a batch); records written before it existed decode with
``null`` there (:meth:`AttemptRecord.decode` ignores unknown fields and defaults missing
optional ones), so old and new bridges may share one log.

The record's key is the customer endpoint's id when there is one, else the event id:
one endpoint's attempts then sit in one partition, in the order they were made, so the
management API reads an endpoint's history older than its in-memory window from that
one partition only (``kafka/deliveryfollower.py``), not from every partition.  Nothing
read the key before; ``kafkahooks deliveries`` filters on the value.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from kafkahooks.kafka.producer import AckedProducer

__all__ = ["AttemptRecord", "DeliveryLog"]


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    event_id: str
    route: str
    attempt: int
    status: int | None
    latency_ms: float
    error: str | None
    at: float  # unix seconds
    excerpt: str | None = None  # of the response body, escaped (delivery/failures.py)
    endpoint_id: str | None = None  # a customer endpoint's delivery
    event_type: str | None = None  # as the route read it (issue 17); older records: None

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> AttemptRecord | None:
        """The record in ``raw``, or ``None`` for anything that is not one (a marker,
        a foreign record): unknown fields are ignored, missing optional ones default."""
        try:
            value = json.loads(raw or b"")
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        return _from_dict(value)

    def key(self) -> bytes:
        """The Kafka key: the endpoint's id for a customer endpoint, else the event id."""
        return (self.endpoint_id or self.event_id).encode()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _from_dict(value: dict[str, Any]) -> AttemptRecord | None:
    event_id, route, at = value.get("event_id"), value.get("route"), value.get("at")
    attempt, status, latency = value.get("attempt"), value.get("status"), value.get("latency_ms")
    if not isinstance(event_id, str) or not isinstance(at, int | float):
        return None
    return AttemptRecord(
        event_id,
        route if isinstance(route, str) else "",
        attempt if isinstance(attempt, int) else 0,
        status if isinstance(status, int) else None,
        float(latency) if isinstance(latency, int | float) else 0.0,
        _text(value.get("error")),
        float(at),
        _text(value.get("excerpt")),
        _text(value.get("endpoint_id")),
        _text(value.get("event_type")),
    )


class DeliveryLog:
    def __init__(self, producer: AckedProducer, topic: str) -> None:
        self._producer = producer
        self.topic = topic

    def record(
        self,
        event_id: str,
        route: str,
        attempt: int,
        status: int | None,
        latency: float,
        error: str | None,
        excerpt: str | None = None,
        endpoint_id: str | None = None,
        event_type: str | None = None,
    ) -> None:
        entry = AttemptRecord(
            event_id,
            route,
            attempt,
            status,
            round(latency * 1000, 2),
            error,
            time.time(),
            excerpt,
            endpoint_id,
            event_type,
        )
        self._producer.send_nowait(self.topic, entry.encode(), entry.key(), [])
