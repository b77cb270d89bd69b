"""Parked events: records on a route's retry topics, waiting for their next try.

A parked record carries the original key, value and headers, plus
``kafkahooks.retry.*`` headers naming the route, the tier, when it may be
tried again, and the source coordinates, so the event keeps its event id and
its templates see the original topic, partition and offset.  A delivery to a
customer endpoint is parked with ``kafkahooks.endpoint_id`` too, and is retried
to that endpoint only.

A parked record is never finished without an outcome.  When it cannot be
retried any more (its headers are malformed, its original no longer decodes,
or its route no longer exists or no longer reads the original's topic after
a reload or a restart) it is dead-lettered with one of the
:class:`ParkedRecordError` reasons below, like any other dead letter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kafkahooks.errors import KafkahooksError
from kafkahooks.event import Event, Headers

__all__ = [
    "Parked",
    "ParkedMalformedError",
    "ParkedRecordError",
    "ParkedUndecodableError",
    "RouteRemovedError",
    "park_headers",
    "read_parked",
]

PREFIX = "kafkahooks.retry."
ENDPOINT_HEADER = "kafkahooks.endpoint_id"


class ParkedRecordError(KafkahooksError):
    """A parked record that cannot be retried: dead-lettered with ``reason``.

    Not a delivery failure (the configuration changed under it), so these
    dead letters are not counted by the dead-letter limit.
    """

    reason = "parked-record"

    def __init__(self, detail: str) -> None:
        super().__init__(f"{self.reason}: {detail}")
        self.detail = detail


class ParkedMalformedError(ParkedRecordError):
    """The retry-topic record lacks its ``kafkahooks.retry.*`` headers, or they are bad."""

    reason = "parked-malformed"


class ParkedUndecodableError(ParkedRecordError):
    """The original event no longer decodes with the current source formats."""

    reason = "parked-undecodable"


class RouteRemovedError(ParkedRecordError):
    """The route the event was parked for is gone, renamed, or no longer reads its topic."""

    reason = "route-removed"


@dataclass(frozen=True, slots=True)
class Parked:
    route: str
    tier: int
    not_before: float  # unix seconds
    attempts: int
    original: Event
    endpoint_id: str | None = None  # a customer endpoint's delivery


def park_headers(
    event: Event,
    route: str,
    tier: int,
    delay: float,
    attempts: int,
    reason: str,
    endpoint_id: str | None = None,
) -> Headers:
    own = {
        "route": route,
        "tier": str(tier),
        "not_before": f"{time.time() + delay:.3f}",
        "attempts": str(attempts),
        "reason": reason[:500],
        "source.topic": event.topic,
        "source.partition": str(event.partition),
        "source.offset": str(event.offset),
        "source.timestamp": str(event.timestamp),
    }
    kept = [(k, v) for k, v in event.headers if not k.startswith(PREFIX) and k != ENDPOINT_HEADER]
    mine: Headers = [(PREFIX + k, v.encode()) for k, v in own.items()]
    if endpoint_id is not None:
        mine.append((ENDPOINT_HEADER, endpoint_id.encode()))
    return kept + mine


def read_parked(record: Event) -> Parked:
    """The parked event inside a retry-topic record; ``ValueError`` if headers are missing."""
    own: dict[str, str] = {}
    kept: Headers = []
    endpoint_id: str | None = None
    for k, v in record.headers:
        if k.startswith(PREFIX):
            own[k[len(PREFIX) :]] = v.decode() if isinstance(v, bytes) else str(v)
        elif k == ENDPOINT_HEADER:
            endpoint_id = (v.decode() if isinstance(v, bytes) else v) or None
        else:
            kept.append((k, v))
    try:
        original = Event(
            topic=own["source.topic"],
            partition=int(own["source.partition"]),
            offset=int(own["source.offset"]),
            timestamp=int(own["source.timestamp"]),
            key=record.key,
            raw_value=record.raw_value,
            headers=kept,
        )
        return Parked(
            own["route"],
            int(own["tier"]),
            float(own["not_before"]),
            int(own["attempts"]),
            original,
            endpoint_id,
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"not a parked record: {exc}") from None
