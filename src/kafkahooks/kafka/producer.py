"""A Kafka producer for asyncio code: awaitable acknowledged writes.

A background thread serves librdkafka's delivery reports and hands each
result to the event loop, so ``await send(...)`` returns only once the
broker acknowledged the record (``acks=all``) and raises if it did not.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from kafkahooks.event import Headers

__all__ = ["AckedProducer", "ProduceError"]

log = logging.getLogger("kafkahooks.producer")


class ProduceError(Exception):
    """The broker did not acknowledge a write."""


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class AckedProducer:
    def __init__(self, properties: dict[str, Any], client_id: str) -> None:
        conf: dict[str, Any] = {
            "acks": "all",
            "message.timeout.ms": 30_000,
            "linger.ms": 5,
            "client.id": client_id,
        }
        conf.update(properties)
        self._producer: Producer | None = Producer(conf)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=client_id, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        producer = self._producer
        assert producer is not None
        while not self._stop.is_set():
            producer.poll(0.05)

    def _produce(
        self, topic: str, value: bytes | None, key: bytes | None, headers: Headers, on_delivery: Any
    ) -> None:
        if self._producer is None:
            raise ProduceError("producer is closed")
        try:
            self._producer.produce(
                topic, value=value, key=key, headers=headers, on_delivery=on_delivery
            )
        except (BufferError, KafkaException) as exc:
            raise ProduceError(str(exc)) from exc

    async def send(
        self, topic: str, value: bytes | None, key: bytes | None, headers: Headers
    ) -> None:
        """Write one record and wait for the broker's acknowledgement."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            failure = None if err is None else ProduceError(err.str())
            loop.call_soon_threadsafe(_settle, done, failure)

        self._produce(topic, value, key, headers, on_delivery)
        await done

    def send_nowait(
        self, topic: str, value: bytes | None, key: bytes | None, headers: Headers
    ) -> None:
        """Fire and forget (logs, not data): a failure is logged, never raised."""

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                log.warning("write failed", extra={"topic": topic, "error": err.str()})

        try:
            self._produce(topic, value, key, headers, on_delivery)
        except ProduceError as exc:
            log.warning("write failed", extra={"topic": topic, "error": str(exc)})

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join()
        if self._producer is not None:
            self._producer.flush(timeout)
            self._producer = None  # drop the handle now, not at interpreter exit
