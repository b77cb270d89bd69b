"""Create the topics kafkahooks itself writes and reads back (retry topics) up front.

Consumers only notice a topic created later at their next metadata refresh
(minutes), and production clusters often disable auto-creation.  Creation
is bounded (``timeout`` in all) and runs on a worker thread, never on the
event loop: an unreachable admin endpoint must not hold deliveries up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from kafkahooks.kafka.kafkalog import with_logger

__all__ = ["create_topics", "ensure_topics"]

log = logging.getLogger("kafkahooks.topics")


def ensure_topics(
    properties: dict[str, Any], topics: list[str], partitions: int = 4, timeout: float = 15.0
) -> None:
    """Create missing topics, waiting at most ``timeout`` seconds in all; existing ones are
    left as they are.  Failures are logged: the operator may have created them with other
    settings, or lack the permission."""
    if not topics:
        return
    deadline = time.monotonic() + timeout
    admin = AdminClient(with_logger(properties))
    futures = admin.create_topics(
        [NewTopic(t, partitions) for t in topics], request_timeout=timeout
    )
    for topic, future in futures.items():
        try:
            future.result(max(0.0, deadline - time.monotonic()))
            log.info("created topic", extra={"topic": topic, "partitions": partitions})
        except TimeoutError:
            log.warning("could not create topic in time", extra={"topic": topic})
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            log.warning("could not create topic", extra={"topic": topic, "error": str(exc)})
    admin.poll(0)  # librdkafka's lines reach the logger only from poll()


async def create_topics(
    properties: dict[str, Any], topics: list[str], partitions: int = 4, timeout: float = 15.0
) -> None:
    """:func:`ensure_topics` on a worker thread; the event loop keeps running meanwhile."""
    if not topics:
        return
    work = asyncio.to_thread(ensure_topics, properties, topics, partitions, timeout)
    try:
        await asyncio.wait_for(work, timeout + 1.0)
    except TimeoutError:  # the thread gives up by itself at its own deadline
        log.warning("topic creation did not finish in time", extra={"topics": topics})
