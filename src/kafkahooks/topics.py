"""Create the topics kafkahooks itself writes and reads back (retry topics) up front.

Consumers only notice a topic created later at their next metadata refresh
(minutes), and production clusters often disable auto-creation.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

__all__ = ["ensure_topics"]

log = logging.getLogger("kafkahooks.topics")


def ensure_topics(properties: dict[str, Any], topics: list[str], partitions: int = 4) -> None:
    """Create missing topics; existing ones are left as they are.  Failures are logged:
    the operator may have created them with other settings, or lack the permission."""
    if not topics:
        return
    admin = AdminClient(properties)
    futures = admin.create_topics([NewTopic(t, partitions) for t in topics], request_timeout=10)
    for topic, future in futures.items():
        try:
            future.result(15)
            log.info("created topic", extra={"topic": topic, "partitions": partitions})
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            log.warning("could not create topic", extra={"topic": topic, "error": str(exc)})
