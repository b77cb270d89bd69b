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
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

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

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()


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
        )
        self._producer.send_nowait(self.topic, entry.encode(), event_id.encode(), [])
