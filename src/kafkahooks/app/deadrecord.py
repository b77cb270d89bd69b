"""One record of a dead-letter topic, read back: its ``kafkahooks.*`` headers split off,
and the source event it was.

Shared by ``kafkahooks dlq replay`` (``app/replay.py``) and the bridge's recover runner
(``app/recover.py``).  Invariant: :meth:`DeadRecord.source_event` has the coordinates
the bridge first read the event at (the ``kafkahooks.source.*`` headers), so the event
id derived from them is the original one.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Message

from kafkahooks.engine import HEADER_PREFIX
from kafkahooks.event import Event, Headers, header_text
from kafkahooks.kafka import TopicPartitionKey

__all__ = ["DeadRecord"]


@dataclass(frozen=True, slots=True)
class DeadRecord:
    """One record of a dead-letter topic, with its ``kafkahooks.*`` headers split off."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Headers  # the source event's own headers
    own: dict[str, str]  # kafkahooks.* headers, prefix removed

    @property
    def tp(self) -> TopicPartitionKey:
        return (self.topic, self.partition)

    @classmethod
    def of(cls, message: Message) -> DeadRecord:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None
        raw = message.headers() or []
        pairs = list(raw.items()) if isinstance(raw, dict) else raw
        kept: Headers = []
        own: dict[str, str] = {}
        for name, value in pairs:
            if not name.startswith(HEADER_PREFIX):
                kept.append((name, value))
            elif value is not None:
                own[name.removeprefix(HEADER_PREFIX)] = header_text(value)
        _, ts = message.timestamp()
        return cls(topic, partition, offset, ts, message.key(), message.value(), kept, own)

    def source_event(self) -> Event:
        """The event as the bridge first read it."""
        own = self.own
        return Event(
            topic=own.get("source.topic") or self.topic,
            partition=int(own.get("source.partition") or self.partition),
            offset=int(own.get("source.offset") or self.offset),
            timestamp=int(own.get("source.timestamp") or self.timestamp),
            key=self.key,
            raw_value=self.value,
            headers=list(self.headers),
        )
