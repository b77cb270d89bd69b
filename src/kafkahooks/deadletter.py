"""Dead-letter records and the producer that waits for the broker's ack.

A dead-letter outcome counts only once the broker acknowledged the write;
a failed write raises :class:`DeadLetterWriteError`, which stops progress.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from kafkahooks.delivery.errors import DeadLetterWriteError
from kafkahooks.event import Event, Headers

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
        kept = [(k, v) for k, v in self.event.headers if not k.startswith(HEADER_PREFIX)]
        mine: Headers = [(HEADER_PREFIX + k, v.encode()) for k, v in own.items()]
        return kept + mine


class DeadLetterWriter:
    """Produces with ``acks=all``; a background thread serves delivery reports."""

    def __init__(self, properties: dict[str, Any], message_timeout_ms: int = 30_000) -> None:
        conf: dict[str, Any] = {
            "acks": "all",
            "message.timeout.ms": message_timeout_ms,
            "linger.ms": 5,
            "client.id": "kafkahooks-dlq",
        }
        conf.update(properties)
        self._producer: Producer | None = Producer(conf)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="kafkahooks-dlq", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        producer = self._producer
        assert producer is not None
        while not self._stop.is_set():
            producer.poll(0.05)

    async def write(self, record: DeadLetter) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                loop.call_soon_threadsafe(_settle, done, None)
            else:
                failure = DeadLetterWriteError(
                    f"dead-letter write to {record.topic!r} failed: {err.str()}"
                )
                loop.call_soon_threadsafe(_settle, done, failure)

        if self._producer is None:
            raise DeadLetterWriteError("dead-letter producer is closed")
        try:
            self._producer.produce(
                record.topic,
                value=record.event.raw_value,
                key=record.event.key,
                headers=record.headers(),
                on_delivery=on_delivery,
            )
        except (BufferError, KafkaException) as exc:
            raise DeadLetterWriteError(
                f"dead-letter write to {record.topic!r} failed: {exc}"
            ) from exc
        await done

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join()
        if self._producer is not None:
            self._producer.flush(timeout)
            self._producer = None  # drop the handle now, not at interpreter exit


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
