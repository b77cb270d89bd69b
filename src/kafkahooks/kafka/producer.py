"""A Kafka producer for asyncio code: awaitable acknowledged writes; producer properties.

A background thread serves librdkafka's delivery reports and hands each
result to the event loop, so ``await send(...)`` returns only once the
broker acknowledged the record (``acks=all``) and raises if it did not.

Every producer kafkahooks makes (retry topics and the delivery log, dead
letters, replay's transactions, topic admin) takes its properties from
:func:`producer_properties`, so they all reach the cluster the same way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from kafkahooks.config import KafkaConfig
from kafkahooks.event import Headers
from kafkahooks.kafka.kafkalog import with_logger

__all__ = ["AckedProducer", "ProduceError", "producer_properties", "without_consumer_only"]

log = logging.getLogger("kafkahooks.producer")


class ProduceError(Exception):
    """The broker did not acknowledge a write."""


# librdkafka properties only a consumer takes: the ``kafka.properties`` that the
# consumers and producers share are passed to producers without them
_CONSUMER_ONLY_PREFIXES = (
    "session.",
    "heartbeat.",
    "max.poll.",
    "auto.offset.",
    "partition.assignment",
    "group.",
    "fetch.",
    "isolation.",
    "enable.partition.eof",
    "queued.",
)


def without_consumer_only(properties: dict[str, Any]) -> dict[str, Any]:
    """``properties`` less the ones only a consumer takes (librdkafka warns about each)."""
    return {k: v for k, v in properties.items() if not k.startswith(_CONSUMER_ONLY_PREFIXES)}


def producer_properties(kafka: KafkaConfig, *, dead_letters: bool = False) -> dict[str, Any]:
    """A producer's librdkafka properties: the bootstrap servers and ``kafka.properties``
    less the consumer-only ones; for the dead letters, ``kafka.dead_letter_properties``
    on top (they may name another cluster).  librdkafka's lines go through kafkahooks'
    logger (``kafka/kafkalog.py``)."""
    props = without_consumer_only(
        {"bootstrap.servers": kafka.bootstrap_servers, **kafka.properties}
    )
    if dead_letters:
        props.update(kafka.dead_letter_properties)
    return with_logger(props)


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
        self._producer: Producer | None = Producer(with_logger(conf))
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
