"""The audit trail of API writes: an intent before the store write, an outcome after.

Each write first sends an **intent** (request id, token id, tenant, action, endpoint
id, the *names* of the fields it changes) to the audit topic and waits for the
broker's acknowledgement (``acks=all``); if that fails, the change is refused (503)
before anything is written to the store.  After the store write, an **outcome**
(``applied`` with the store offset, ``conflict``, or ``failed``) follows; it is sent
without waiting, since the change is already made and the store holds it.

Records are JSON keyed by the request id, so an intent and its outcome land in one
partition, in that order.
Invariant: no value a client sent is in an audit record: field names only, never a
URL, header value, secret or description.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

__all__ = ["Audit", "AuditRecorder", "AuditUnavailableError", "KafkaAudit"]

log = logging.getLogger("kafkahooks.api")

INTENT_TIMEOUT = 5.0  # seconds for the broker to acknowledge an intent


class AuditUnavailableError(Exception):
    """An intent was not acknowledged: the change must not be made."""


@dataclass(frozen=True, slots=True)
class Audit:
    """Who asks for which change (field names only)."""

    request_id: str
    token_id: str
    tenant: str
    action: str
    endpoint_id: str | None = None
    fields: tuple[str, ...] = ()

    def intent(self) -> dict[str, Any]:
        return {
            "kind": "intent",
            "request_id": self.request_id,
            "token_id": self.token_id,
            "tenant": self.tenant,
            "action": self.action,
            "endpoint_id": self.endpoint_id,
            "fields": sorted(self.fields),
            "at": time.time(),
        }

    def outcome(self, result: str, offset: int | None) -> dict[str, Any]:
        return {
            "kind": "outcome",
            "request_id": self.request_id,
            "token_id": self.token_id,
            "tenant": self.tenant,
            "action": self.action,
            "endpoint_id": self.endpoint_id,
            "result": result,
            "offset": offset,
            "at": time.time(),
        }


class AuditRecorder(Protocol):
    async def intent(self, audit: Audit) -> None:
        """Acknowledged, or :class:`AuditUnavailableError`."""
        ...

    def outcome(self, audit: Audit, result: str, offset: int | None) -> None: ...


def field_names(data: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(str(name) for name in data))


class KafkaAudit:
    """:class:`AuditRecorder` on an audit topic, through an ``AckedProducer``."""

    def __init__(self, properties: dict[str, Any], topic: str) -> None:
        from kafkahooks.kafka import AckedProducer

        self.topic = topic
        self._producer = AckedProducer(
            {**properties, "enable.idempotence": True}, "kafkahooks-api-audit"
        )

    async def intent(self, audit: Audit) -> None:
        from kafkahooks.kafka import ProduceError

        value = orjson.dumps(audit.intent())
        try:
            await asyncio.wait_for(
                self._producer.send(self.topic, value, audit.request_id.encode(), []),
                INTENT_TIMEOUT,
            )
        except (ProduceError, TimeoutError) as exc:
            log.error("audit intent not written", extra={"request_id": audit.request_id,
                                                          "error": type(exc).__name__})  # fmt: skip
            raise AuditUnavailableError(str(exc)) from None

    def outcome(self, audit: Audit, result: str, offset: int | None) -> None:
        value = orjson.dumps(audit.outcome(result, offset))
        self._producer.send_nowait(self.topic, value, audit.request_id.encode(), [])

    def close(self) -> None:
        self._producer.close(5.0)
