"""A recover job of one endpoint in the store: key ``recover/<endpoint id>``.

``POST …/endpoints/{id}/recover {since}`` writes the request (``state: requested``); a
bridge replica claims it (``running``, its ``writer`` id), re-parks the endpoint's dead
letters since ``since`` on the route's first retry topic, writes its progress every few
seconds (``scanned``, ``resent``) and finally ``done`` (or ``failed`` with ``error``).
One record per endpoint: the job in force is the last one applied, so an endpoint has
one recover at a time.

The store's revision rule, as for endpoint and status records: ``revision`` is the
offset of the record it replaces for its key (-1 when none), and a record applies only
if that is the offset held.  So two API replicas cannot both start a job (one request
names the offset the other replaced), and of two bridges claiming one request only the
first claim applied wins (both name the request's offset).  A claim whose progress has
not been written for :data:`STALE_AFTER` seconds may be taken over by another bridge
(its claim names the stale record's offset).
Invariant: a job record holds no secret, no URL and no tenant data beyond the endpoint
id; a job of an endpoint the store does not hold is ignored (and tombstoned with it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import orjson

from kafkahooks.endpoints.errors import StoreRecordError

__all__ = [
    "RECOVER_PREFIX",
    "STALE_AFTER",
    "RecoverJob",
    "encode_job",
    "parse_job",
    "recover_key",
]

RECOVER_PREFIX = "recover/"
RECOVER_VERSION = "1.0"
STALE_AFTER = 30.0  # seconds without progress before another bridge may take a job over
State = Literal["requested", "running", "done", "failed"]
_STATES = ("requested", "running", "done", "failed")


def recover_key(endpoint_id: str) -> str:
    return RECOVER_PREFIX + endpoint_id


@dataclass(frozen=True, slots=True)
class RecoverJob:
    """One applied job record (``offset``: where the store holds it)."""

    endpoint_id: str
    job: str
    since: float  # unix seconds: dead letters written at or after it are re-sent
    requested: float
    state: State = "requested"
    writer: str = ""  # the bridge replica running it ("" until claimed)
    scanned: int = 0  # dead-letter records read
    resent: int = 0  # this endpoint's, re-parked for delivery
    started: float | None = None
    finished: float | None = None
    updated: float = 0.0  # the last write: progress older than STALE_AFTER is stale
    error: str | None = None
    offset: int = -1

    @property
    def active(self) -> bool:
        return self.state in ("requested", "running")

    def stale(self, now: float) -> bool:
        """A job nobody is seen running: claimable by another bridge."""
        return self.active and now - self.updated > STALE_AFTER

    def with_(self, **changes: object) -> RecoverJob:
        return replace(self, **changes)  # type: ignore[arg-type]


def encode_job(job: RecoverJob, revision: int) -> bytes:
    """The record of ``job`` replacing the record at offset ``revision`` (-1: none)."""
    return orjson.dumps(
        {
            "kind": "recover",
            "version": RECOVER_VERSION,
            "id": job.endpoint_id,
            "job": job.job,
            "since": job.since,
            "requested": job.requested,
            "state": job.state,
            "writer": job.writer,
            "scanned": job.scanned,
            "resent": job.resent,
            "started": job.started,
            "finished": job.finished,
            "updated": job.updated,
            "error": job.error,
            "revision": revision,
        }
    )


def _number(raw: dict[str, object], name: str, *, optional: bool = False) -> float | None:
    value = raw.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(name)
    return float(value)


def parse_job(key: str, value: bytes, offset: int) -> tuple[RecoverJob, int]:
    """The job a record holds and its ``revision``; raises ``StoreRecordError``."""
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise StoreRecordError("json", key) from None
    if not isinstance(raw, dict) or raw.get("kind") != "recover":
        raise StoreRecordError("schema", f"{key}: not a recover record")
    version = raw.get("version")
    if not isinstance(version, str) or version.partition(".")[0] != "1":
        raise StoreRecordError("version", f"{key}: version {str(version)[:20]!r}")
    if recover_key(str(raw.get("id"))) != key:
        raise StoreRecordError("key-mismatch", f"{key}: the record's id differs")
    try:
        state = raw.get("state")
        if state not in _STATES or not isinstance(raw.get("job"), str):
            raise ValueError("state")
        error = raw.get("error")
        job = RecoverJob(
            endpoint_id=str(raw["id"]),
            job=str(raw["job"]),
            since=_number(raw, "since") or 0.0,
            requested=_number(raw, "requested") or 0.0,
            state=state,
            writer=str(raw.get("writer") or ""),
            scanned=int(_number(raw, "scanned") or 0),
            resent=int(_number(raw, "resent") or 0),
            started=_number(raw, "started", optional=True),
            finished=_number(raw, "finished", optional=True),
            updated=_number(raw, "updated") or 0.0,
            error=None if error is None else str(error)[:500],
            offset=offset,
        )
        revision = int(_number(raw, "revision") or 0)
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreRecordError("schema", f"{key}: {exc}") from None
    return job, revision
