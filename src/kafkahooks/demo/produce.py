"""``kafkahooks produce``: write test events to a topic, for local development.

The events are the built-in samples (``src/kafkahooks/samples``, picked by type) or a
JSON file holding one event or a list; each event is its value, or an envelope
``{"value": …, "key": …, "headers": {…}}`` as ``render --event`` reads it.  Values are
written as compact JSON.

Invariant: ``produce_events`` returns only once the broker acknowledged every record, and
raises :class:`ProduceError` (saying how many were not acknowledged) otherwise: a command
that says "produced 3" has put 3 records on the topic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafkahooks.samples import ENVELOPE_KEYS, sample_events

__all__ = ["OutgoingRecord", "ProduceError", "file_records", "produce_events", "sample_records"]


class ProduceError(Exception):
    """The events could not be read, or the broker did not acknowledge them all."""


@dataclass(frozen=True)
class OutgoingRecord:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, str | bytes | None]]


def _record(data: Any, key: str | None) -> OutgoingRecord:
    envelope = isinstance(data, dict) and "value" in data and set(data) <= ENVELOPE_KEYS
    fields: dict[str, Any] = data if envelope else {"value": data}
    headers = fields.get("headers") or {}
    if not isinstance(headers, dict):
        raise ProduceError("an envelope's 'headers' must be an object of name: value")
    chosen = key if key is not None else fields.get("key")
    return OutgoingRecord(
        key=None if chosen is None else str(chosen).encode(),
        value=json.dumps(fields["value"], separators=(",", ":"), ensure_ascii=False).encode(),
        headers=[(str(k), str(v).encode()) for k, v in headers.items()],
    )


def _text(value: str | bytes | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def sample_records(types: list[str], key: str | None = None) -> list[OutgoingRecord]:
    """One record per requested sample type (``ended``, ``status-changed``, a file name)."""
    samples = sample_events("")
    known = {name.removesuffix(".json"): event for name, event in samples}
    out = []
    for wanted in types:
        matches = [
            event
            for name, event in known.items()
            if wanted in (name, name.removeprefix("call-status-"))
            or (isinstance(event.value, dict) and event.value.get("event") == wanted)
        ]
        if not matches:
            names = ", ".join(sorted(n.removeprefix("call-status-") for n in known))
            raise ProduceError(
                f"no built-in sample of type {wanted!r} (there are: {names}, and "
                "status-changed for all of them); give your own with --file events.json"
            )
        for event in matches:
            headers = {k: _text(v) for k, v in event.headers}
            data = {"value": event.value, "headers": headers, "key": _text(event.key)}
            out.append(_record(data, key))
    return out


def file_records(path: str, key: str | None = None) -> list[OutgoingRecord]:
    """The events of a JSON file: one event (value or envelope) or a list of them."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProduceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ProduceError(f"{path}: not JSON: {exc}") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise ProduceError(f"{path}: the list holds no events")
    return [_record(item, key) for item in items]


def produce_events(
    bootstrap: str, topic: str, records: list[OutgoingRecord], timeout: float = 15.0
) -> int:
    """Write ``records`` to ``topic`` in order; the number the broker acknowledged, which is
    all of them, or :class:`ProduceError`."""
    from confluent_kafka import Producer

    failures: list[str] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "message.timeout.ms": int(timeout * 1000),
            "enable.idempotence": True,
            "log_level": 0,  # a missing broker is reported below, once, not as librdkafka noise
        }
    )
    for record in records:
        producer.produce(
            topic, key=record.key, value=record.value, headers=record.headers, on_delivery=report
        )
    left = producer.flush(timeout + 5.0)
    if left or failures:
        why = failures[0] if failures else "no acknowledgement in time"
        raise ProduceError(
            f"cannot produce to {topic} at {bootstrap}: {len(failures) + left} of "
            f"{len(records)} events not acknowledged ({why})"
        )
    return len(records)
