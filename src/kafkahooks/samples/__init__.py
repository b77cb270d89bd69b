"""Built-in sample events, one per event type the examples use.

Each file is an envelope: the event ``value`` plus the Kafka ``key`` and
``headers`` it would arrive with.  ``kafkahooks render`` and ``send-test``
pick one with ``--event-type`` (matched against the route's own
``event_type`` path, so ``status-changed`` and ``ended`` both work).
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

from kafkahooks.event import Event

__all__ = ["ENVELOPE_KEYS", "event_from_data", "event_from_path", "sample_events"]

ENVELOPE_KEYS = frozenset({"value", "key", "headers", "topic", "partition", "offset", "timestamp"})


def event_from_data(data: Any, default_topic: str, name: str = "") -> Event:
    """The value itself, or an envelope with ``value`` and Kafka fields."""
    envelope = isinstance(data, dict) and "value" in data and set(data) <= ENVELOPE_KEYS
    fields: dict[str, Any] = data if envelope else {"value": data}
    value = fields["value"]
    headers = fields.get("headers") or {}
    key = fields.get("key")
    return Event(
        topic=fields.get("topic", default_topic),
        partition=int(fields.get("partition", 0)),
        offset=int(fields.get("offset", 0)),
        timestamp=int(fields.get("timestamp", time.time() * 1000)),
        key=None if key is None else str(key).encode(),
        raw_value=json.dumps(value).encode(),
        headers=[(k, str(v).encode()) for k, v in headers.items()],
        value=value,
    )


def event_from_path(path: str | Path, default_topic: str) -> Event:
    return event_from_data(json.loads(Path(path).read_text(encoding="utf-8")), default_topic)


def sample_events(default_topic: str) -> list[tuple[str, Event]]:
    """``(file name, event)`` for every built-in sample, in name order."""
    folder = resources.files(__name__)
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            data = json.loads(entry.read_text(encoding="utf-8"))
            out.append((entry.name, event_from_data(data, default_topic)))
    return out
