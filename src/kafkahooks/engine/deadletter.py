"""Dead letters: the one way one is built, the producer that waits for the broker's ack,
and the step that writes one past the dead-letter limit.

Every dead letter (after delivery, undecodable, a parked event that can no
longer be retried, a replay that failed again) is built by :func:`dead_letter`.
One of a customer endpoint's delivery carries ``kafkahooks.endpoint_id`` and, for
the endpoint, its origin only (its URL's path and query may hold credentials).
A dead-letter outcome counts only once the broker acknowledged the write; a
failed write (:class:`DeadLetterWriteError`) or a dead letter the limit refuses
(:class:`DeadLetterLimitExceeded`) halts the bridge instead (``engine/halt.py``):
the event stays unfinished, so no commit passes it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from kafkahooks.decode import ValueTooLargeError
from kafkahooks.delivery import (
    DeadLetterWriteError,
    DeliveryError,
    DeliveryReport,
    EndpointDisabledError,
    Route,
    RouteDisabledError,
    endpoint_of,
)
from kafkahooks.engine.dlqlimit import DeadLetterLimit, DeadLetterLimitExceeded
from kafkahooks.engine.halt import Halt
from kafkahooks.engine.parking import (
    ParkedMalformedError,
    ParkedUndecodableError,
    RouteRemovedError,
)
from kafkahooks.event import Event, Headers
from kafkahooks.kafka import AckedProducer, ProduceError

__all__ = [
    "HEADER_PREFIX",
    "DeadLetter",
    "DeadLetterWriter",
    "DeadLettering",
    "dead_letter",
    "dead_letter_topic",
]

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
    excerpt: str | None = None  # of the last response body, escaped (delivery/failures.py)
    endpoint: str | None = None  # scheme://host[:port]/path, secrets masked, no query
    endpoint_id: str | None = None  # a customer endpoint's delivery (its origin in endpoint)
    # False for an oversize value: only headers and coordinates, so the write cannot fail on size
    with_body: bool = True

    @property
    def value(self) -> bytes | None:
        return self.event.raw_value if self.with_body else None

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
        if self.excerpt is not None:
            own["http.response_excerpt"] = self.excerpt
        if self.endpoint is not None:
            own["endpoint"] = self.endpoint
        if self.endpoint_id is not None:
            own["endpoint_id"] = self.endpoint_id
        if not self.with_body:
            own["value.omitted"] = str(len(self.event.raw_value or b""))
        kept = [(k, v) for k, v in self.event.headers if not k.startswith(HEADER_PREFIX)]
        mine: Headers = [(HEADER_PREFIX + k, v.encode()) for k, v in own.items()]
        return kept + mine


def dead_letter_topic(route: Route | None, source_topic: str) -> str:
    """Where a dead letter of ``source_topic`` goes: its route's dead-letter topic, or
    ``<source>.dlq`` when no route was chosen (or the route is gone)."""
    return route.config.dead_letter_for(source_topic) if route else f"{source_topic}.dlq"


def dead_letter(
    event: Event,
    error: BaseException,
    route: Route | None,
    *,
    route_name: str | None = None,
    event_id: str | None = None,
    report: DeliveryReport | None = None,
    attempts: int | None = None,
    endpoint_id: str | None = None,
) -> DeadLetter:
    """The dead letter of ``event`` that ended with ``error`` (the one place one is built).

    ``route`` picks the topic (``None``: ``<source>.dlq``) and names the route unless
    ``route_name`` does (a parked event whose route is gone).  ``report`` gives the HTTP
    status and the attempts unless ``attempts`` is given.  An oversize value is left
    out, so the write cannot fail on size.  ``endpoint_id``: the customer endpoint the
    delivery was for (shown by its origin, if the directory still has it).
    """
    if route_name is None and route is not None:
        route_name = route.name
    if attempts is None:
        attempts = report.attempts if report is not None else 0
    shown = endpoint_of(route) if route is not None else None
    if endpoint_id is not None and route is not None and route.directory is not None:
        found = route.directory.get(endpoint_id)
        shown = found.origin if found is not None else None
    return DeadLetter(
        topic=dead_letter_topic(route, event.topic),
        event=event,
        error_class=type(error).__name__,
        error_message=error.reason if isinstance(error, DeliveryError) else str(error),
        route=route_name,
        event_id=event_id,
        status=report.status if report is not None else None,
        attempts=attempts,
        with_body=not isinstance(error, ValueTooLargeError),
        excerpt=report.excerpt if report is not None else None,
        endpoint=shown,
        endpoint_id=endpoint_id,
    )


class DeadLetterWriter:
    """Writes dead letters and waits for the broker's acknowledgement (``acks=all``)."""

    def __init__(self, properties: dict[str, Any]) -> None:
        self._producer = AckedProducer(properties, client_id="kafkahooks-dlq")

    async def write(self, record: DeadLetter) -> None:
        try:
            await self._producer.send(
                record.topic, record.value, record.event.key, record.headers()
            )
        except ProduceError as exc:
            raise DeadLetterWriteError(
                f"dead-letter write to {record.topic!r} failed: {exc}"
            ) from None

    def close(self, timeout: float = 10.0) -> None:
        self._producer.close(timeout)


# Dead letters that are not delivery failures: the dead-letter limit does not count them.
_NOT_COUNTED = frozenset(
    c.__name__
    for c in (
        RouteDisabledError,
        EndpointDisabledError,
        ParkedMalformedError,
        ParkedUndecodableError,
        RouteRemovedError,
    )
)


def counts_toward_limit(record: DeadLetter) -> bool:
    """Whether the dead-letter limit counts ``record``: it is for the platform's mistakes
    (decode, tenant path, template, an internal error), not a customer's endpoint (its
    status, timeout, refused target, disabled or deleted), nor a route the platform
    turned off or removed."""
    if record.error_class in _NOT_COUNTED:
        return False
    if record.endpoint_id is None:
        return True
    return record.error_message.startswith(("template:", "internal error:"))


class DeadLettering:
    """The dead-letter step: past the dead-letter limit, through the writer, acknowledged.

    ``write`` returns once the broker acknowledged the dead letter.  It never returns
    when the limit refuses it or the write fails: it halts, holding the caller's lane.
    """

    def __init__(self, writer: DeadLetterWriter, limit: DeadLetterLimit, halt: Halt) -> None:
        self.writer = writer
        self.limit = limit
        self._halt = halt
        self._writing = 0  # writes waiting for their ack

    async def write(self, record: DeadLetter) -> None:
        # Never skip: on either error the event stays unfinished so no commit passes it.
        try:
            if counts_toward_limit(record):
                self.limit.dead_letter(
                    (record.event.topic, record.event.partition), record.event.offset
                )
        except DeadLetterLimitExceeded as exc:
            await self._landed()  # the dead letters before it finish: not redone
            await self._halt.hold(exc)
        self._writing += 1
        try:
            await self.writer.write(record)
            return
        except DeadLetterWriteError as exc:
            failure = exc
        finally:
            self._writing -= 1
        await self._halt.hold(failure)

    async def _landed(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self._writing and time.monotonic() < deadline:
            if self._halt.cause is not None:  # stopping anyway: nothing to wait for
                return
            await asyncio.sleep(0.01)
