"""Dead-letter records and the producer that waits for the broker's ack.

A dead-letter outcome counts only once the broker acknowledged the write;
a failed write raises :class:`DeadLetterWriteError`, which stops progress.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kafkahooks.delivery.errors import DeadLetterWriteError
from kafkahooks.event import Event, Headers
from kafkahooks.kafka.producer import AckedProducer, ProduceError

__all__ = ["HEADER_PREFIX", "DeadLetter", "DeadLetterWriter"]

HEADER_PREFIX = "kafkahooks."


@dataclass(slots=True)
class DeadLetter:
    """Why one event (on one route, or before any route) ended up dead-lettered."""

    topic: str
    event: Event
    error_class: str
    error_message: str
    route: str | None = None
    event_id: str | None = None
    status: int | None = None
    attempts: int = 0
    # False for an oversize value: only headers and coordinates, so the write cannot fail on size
    with_body: bool = True

    @property
    def value(self) -> bytes | None:
        return self.event.raw_value if self.with_body else None

    def headers(self) -> Headers:
        own = {
            "source.topic": self.event.topic,
            "source.partition": str(self.event.partition),
            "source.offset": str(self.event.offset),
            "source.timestamp": str(self.event.timestamp),
            "event_id": self.event_id or "",
            "route": self.route or "",
            "error.class": self.error_class,
            "error.message": self.error_message[:1000],
            "http.status": "" if self.status is None else str(self.status),
            "attempts": str(self.attempts),
            "failed_at": str(int(time.time() * 1000)),
        }
        if not self.with_body:
            own["value.omitted"] = str(len(self.event.raw_value or b""))
        kept = [(k, v) for k, v in self.event.headers if not k.startswith(HEADER_PREFIX)]
        mine: Headers = [(HEADER_PREFIX + k, v.encode()) for k, v in own.items()]
        return kept + mine


class DeadLetterWriter:
    """Writes dead letters and waits for the broker's acknowledgement (``acks=all``)."""

    def __init__(self, properties: dict[str, Any]) -> None:
        self._producer = AckedProducer(properties, client_id="kafkahooks-dlq")

    async def write(self, record: DeadLetter) -> None:
        try:
            await self._producer.send(
                record.topic, record.value, record.event.key, record.headers()
            )
        except ProduceError as exc:
            raise DeadLetterWriteError(
                f"dead-letter write to {record.topic!r} failed: {exc}"
            ) from None

    def close(self, timeout: float = 10.0) -> None:
        self._producer.close(timeout)
