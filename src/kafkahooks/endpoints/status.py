"""The bridge's own record of an endpoint's health in the store: key ``health/<endpoint id>``.

One record per endpoint, written by the bridge replicas (never by a tenant): the failure
clock (``failing_since``: the first failure seen after the last recorded success) and a
bridge disable (``disabled``: why and when).  The record names the endpoint revision it is
about (``endpoint_revision``: the store offset of the endpoint record); it counts only
while that is the endpoint's current revision, so any tenant write (a re-enable, a new
URL, a rotated secret) voids a disable and restarts the clock.  ``writer`` names the
replica that wrote it (a process id of its own): the one whose record the store applied
announces the transition (``endpoints/health.py``).

The same conflict rule as endpoint records: ``revision`` is the offset of the status
record it replaces for its key (-1 when none), and a record applies only if that is the
offset held.  Schema: ``schemas/endpoint-health.schema.json`` (generated from
:data:`STATUS_ADAPTER`; a unit test keeps it in step).  Invariant: a status record holds
no secret, no URL and no tenant data beyond the endpoint id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

import orjson
from pydantic import ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict

from kafkahooks.endpoints.errors import StoreRecordError
from kafkahooks.endpoints.storejson import validated

__all__ = [
    "STATUS_ADAPTER",
    "STATUS_PREFIX",
    "Disable",
    "EndpointStatus",
    "StatusListener",
    "encode_status",
    "endpoint_of",
    "parse_status",
    "status_json_schema",
    "status_key",
]

STATUS_PREFIX = "health/"
STATUS_VERSION = "1.0"


@dataclass(frozen=True, slots=True)
class Disable:
    """Why the bridge disabled an endpoint: ``reason`` ``gone`` (it answered 410 Gone) or
    ``failing`` (no success for the configured period); ``at``: Unix seconds."""

    reason: str
    at: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class EndpointStatus:
    """One applied status record (``offset``: where the store holds it)."""

    endpoint_revision: int
    failing_since: float | None = None
    disabled: Disable | None = None
    writer: str = ""
    offset: int = -1

    def about(self, endpoint_offset: int) -> bool:
        """Whether this status is about the endpoint version at ``endpoint_offset``."""
        return self.endpoint_revision == endpoint_offset


def status_key(endpoint_id: str) -> str:
    return STATUS_PREFIX + endpoint_id


def endpoint_of(key: str) -> str:
    """The endpoint id of a status key."""
    return key[len(STATUS_PREFIX) :]


@with_config(ConfigDict(extra="ignore"))
class DisableRecord(TypedDict):
    reason: Literal["gone", "failing"]
    at: float
    detail: str


@with_config(ConfigDict(extra="ignore", title="kafkahooks endpoint health record"))
class StatusRecord(TypedDict):
    kind: Literal["health"]
    version: Annotated[str, Field(pattern=r"^1\.[0-9]+$")]
    id: str
    endpoint_revision: Annotated[int, Field(ge=0)]
    failing_since: float | None
    disabled: DisableRecord | None
    writer: str
    written: float
    revision: Annotated[int, Field(ge=-1)]


STATUS_ADAPTER: TypeAdapter[StatusRecord] = TypeAdapter(StatusRecord)


def status_json_schema() -> dict[str, Any]:
    """The JSON Schema of a status record (``schemas/endpoint-health.schema.json``)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": (
            "The bridge's health record of one customer endpoint in the kafkahooks store "
            "topic (key: health/<endpoint id>): its failure clock and a bridge disable, about "
            "one revision of the endpoint. Fields not listed are ignored within major version 1."
        ),
        **STATUS_ADAPTER.json_schema(),
    }


def encode_status(endpoint_id: str, status: EndpointStatus, revision: int, now: float) -> bytes:
    """The record of ``status`` for ``endpoint_id`` replacing the status record at offset
    ``revision`` (-1: none held)."""
    disabled = status.disabled
    return orjson.dumps(
        {
            "kind": "health",
            "version": STATUS_VERSION,
            "id": endpoint_id,
            "endpoint_revision": status.endpoint_revision,
            "failing_since": status.failing_since,
            "disabled": None
            if disabled is None
            else {"reason": disabled.reason, "at": disabled.at, "detail": disabled.detail},
            "writer": status.writer,
            "written": now,
            "revision": revision,
        }
    )


def parse_status(key: str, value: bytes, offset: int) -> tuple[EndpointStatus, int]:
    """The status a record holds (``offset`` set) and its ``revision``; raises
    ``StoreRecordError`` (``json``, ``version``, ``schema``, ``key-mismatch``)."""
    record = validated(key, value, STATUS_ADAPTER)
    if status_key(record["id"]) != key:
        raise StoreRecordError("key-mismatch", f"{key}: the record's id differs")
    disabled = record["disabled"]
    status = EndpointStatus(
        endpoint_revision=record["endpoint_revision"],
        failing_since=record["failing_since"],
        disabled=None
        if disabled is None
        else Disable(disabled["reason"], disabled["at"], disabled["detail"]),
        writer=record["writer"],
        offset=offset,
    )
    return status, record["revision"]


class StatusListener(Protocol):
    """Told by the table (on the store follower's thread) what the bridge may have to
    write or announce; it must not block (``endpoints/health.py`` queues work)."""

    def status_applied(
        self, endpoint_id: str, tenant: str, old: EndpointStatus | None, new: EndpointStatus
    ) -> None:
        """A status record applied (``old``: the one it replaced)."""

    def voided(self, endpoint_id: str) -> None:
        """A new endpoint revision applied over a status holding a bridge disable."""

    def orphaned(self, key: str) -> None:
        """A status record whose endpoint the store does not hold (unknown or deleted)."""
