"""The one event type every decoder produces and every later stage reads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "Headers", "event_id", "header_text"]

# Kafka headers: an ordered list, names may repeat, values may be null.
Headers = list[tuple[str, str | bytes | None]]


def header_text(value: str | bytes) -> str:
    """A Kafka header value as text: UTF-8, undecodable bytes replaced (never an error)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


@dataclass(slots=True)
class Event:
    """A Kafka record with its value decoded.

    ``raw_value`` is kept so dead-letter records carry the original bytes.
    """

    topic: str
    partition: int
    offset: int
    timestamp: int  # record timestamp, ms since the epoch
    key: bytes | None
    raw_value: bytes | None
    headers: Headers = field(default_factory=list)
    value: Any = None
    # ``{{ key }}`` of a key decoded by its format (JSON, Avro); None: the key bytes as UTF-8
    key_text: str | None = None

    def header(self, name: str) -> str | None:
        """Last value of a header, decoded as UTF-8 (Kafka headers may repeat)."""
        found: str | None = None
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                found = None if v is None else header_text(v)
        return found

    @property
    def key_str(self) -> str | None:
        if self.key_text is not None:
            return self.key_text
        return None if self.key is None else self.key.decode("utf-8", "replace")


def event_id(topic: str, partition: int, offset: int, timestamp: int, route: str) -> str:
    """Stable id for one event on one route.

    The same record always yields the same id (retries, redeliveries after a
    crash, replays from the dead-letter topic).  The record timestamp is part
    of the input so a recreated topic, whose offsets start again at 0, does
    not reuse ids.
    """
    material = f"{topic}\x00{partition}\x00{offset}\x00{timestamp}\x00{route}".encode()
    return "evt_" + hashlib.sha256(material).hexdigest()[:32]
