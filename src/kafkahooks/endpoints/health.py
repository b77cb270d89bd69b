"""Auto-disable: the failure clock and the bridge's disables, decided from what replicas see.

The deliverer reports every answered attempt to a customer endpoint
(:meth:`EndpointHealth.observe`: a 2xx is a success; any other status, a timeout or a
refused connection is a failure); a circuit, a rate limit or a disabled endpoint sends
nothing and reports nothing.  What is decided, against the status the store holds for
the endpoint's current revision (``endpoints/status.py``):

* a failure with no clock set: write ``failing_since`` = the failure's time (the first
  replica to see a failure after the last recorded success);
* a success with the clock set: clear it;
* a failure with ``now - failing_since >= period``: write a disable (``failing``);
* a 410 Gone: write a disable (``gone``) of that endpoint only;
* a new endpoint revision over a bridge disable (a tenant re-enabled or changed it): the
  disable is void already; write a cleared status so that it is announced once.

Nothing else is written: an endpoint that keeps failing (or keeps succeeding) costs no
write, and each replica writes at most once per endpoint per ``interval`` (60 s by
default; a decision that has to wait is kept and made when the interval has passed).
Writes name the held status record's offset (the store's revision rule), so replicas
deciding the same transition at once resolve identically everywhere: the first in the log
wins.  A status of an endpoint that is gone is tombstoned.  The replica whose record the
store applied (``writer`` is its id) produces the operational event ``endpoint.disabled``
or ``endpoint.enabled``: once, whatever the number of replicas.

Threads: :meth:`observe` runs on the event loop and costs a dictionary lookup in the usual
case (a success of a healthy endpoint, a failure while the clock runs); the table calls
the listener methods on the store follower's thread; :meth:`tick` runs on the writer's
thread (``app/statuswriter.py``), decides, and returns the records to write and the
events to produce.  No method here blocks or does I/O: unit tests drive it with a fake
clock and no broker.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import orjson

from kafkahooks.endpoints.status import (
    Disable,
    EndpointStatus,
    encode_status,
    endpoint_of,
    status_key,
)
from kafkahooks.endpoints.table import EndpointTable

__all__ = [
    "DEFAULT_PERIOD",
    "EndpointHealth",
    "HealthObserver",
    "HealthWork",
    "decide",
]

log = logging.getLogger("kafkahooks.store")

DEFAULT_PERIOD = 5 * 86400.0  # seconds without a success before the bridge disables
GONE = 410
_ORPHAN_GRACE = 2.0  # seconds: a deleting writer tombstones the status itself right after


class HealthObserver(Protocol):
    """What the deliverer calls after every answered attempt to a customer endpoint."""

    def observe(
        self, endpoint_id: str, revision: int, ok: bool, status: int | None, now: float
    ) -> None: ...


class _Seen(NamedTuple):
    revision: int  # the endpoint offset the attempt was built from
    ok: bool
    status: int | None
    at: float


_REVIEW = _Seen(-1, True, None, 0.0)  # not an attempt: "check for a void disable"


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def decide(
    current: EndpointStatus | None,
    ok: bool,
    status: int | None,
    at: float,
    period: float | None,
) -> tuple[float | None, Disable | None] | None:
    """The new ``(failing_since, disabled)`` after an attempt answered at ``at`` (``ok``:
    a 2xx; ``status``: the HTTP status, if any), given the status held for the
    endpoint's current revision (``None``: none); ``None`` when nothing is to be written.
    ``period``: seconds of failures before a disable (``None``: never by the clock)."""
    since = current.failing_since if current is not None else None
    if current is not None and current.disabled is not None:
        return None  # disabled already: an attempt that was in flight
    if ok:
        return (None, None) if since is not None else None
    if status == GONE:
        return since if since is not None else at, Disable("gone", at, "HTTP 410 Gone")
    if since is None:
        return at, None
    if period is not None and at - since >= period:
        detail = f"no successful delivery for {_span(period)} (failing since {_when(since)})"
        return since, Disable("failing", at, detail)
    return None


@dataclass
class HealthWork:
    """What :meth:`EndpointHealth.tick` found to do: store records (key, value; ``None``:
    a tombstone) and operational events (key, value) for the events topic."""

    writes: list[tuple[str, bytes | None]] = field(default_factory=list)
    events: list[tuple[str, bytes]] = field(default_factory=list)


class EndpointHealth:
    """The decisions of one replica (module doc).  ``writer_id`` tags its records;
    ``wake`` is called when there is work for :meth:`tick` (the writer thread's)."""

    def __init__(
        self,
        table: EndpointTable,
        *,
        writer_id: str,
        period: float | None = DEFAULT_PERIOD,
        interval: float = 60.0,
        wake: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self._status_of = table.status_of
        self.writer_id = writer_id
        self.period = period
        self.interval = interval
        self.wake: Callable[[], None] = wake or (lambda: None)
        self._clock = clock  # wall clock: when an orphan was seen, in tick()'s time base
        self._lock = threading.Lock()
        self._pending: dict[str, _Seen] = {}  # endpoint id -> the observation to decide on
        self._orphans: dict[str, float] = {}  # status key -> when it was seen orphaned
        self._events: list[tuple[str, bytes]] = []
        self._last: dict[str, float] = {}  # endpoint id -> when this replica last wrote (tick)
        self._written: dict[str, _Seen] = {}  # what the last tick's writes were decided on

    # -- the event loop ---------------------------------------------------------------------

    def observe(
        self, endpoint_id: str, revision: int, ok: bool, status: int | None, now: float
    ) -> None:
        """One answered attempt to the endpoint version at store offset ``revision``."""
        held = self._status_of(endpoint_id)
        if held is None and ok:
            return  # the usual case, first: healthy and known to be
        current = held if held is not None and held.about(revision) else None
        if current is not None and current.disabled is not None:
            return  # disabled already: an attempt that was in flight
        since = current.failing_since if current is not None else None
        if ok and since is None and (held is None or held.disabled is None):
            return  # the usual case: healthy and known to be
        running = since is not None and (self.period is None or now - since < self.period)
        if not ok and running and status != GONE:
            return  # failing, and the clock already runs
        self._queue(endpoint_id, _Seen(revision, ok, status, now))

    def _queue(self, endpoint_id: str, seen: _Seen) -> None:
        with self._lock:
            before = self._pending.get(endpoint_id)
            # a 410 stays the decision to make unless a success came after it
            if before is None or seen.ok or before.status != GONE:
                self._pending[endpoint_id] = seen
        self.wake()

    # -- the store follower (StatusListener) ------------------------------------------------

    def status_applied(
        self, endpoint_id: str, tenant: str, old: EndpointStatus | None, new: EndpointStatus
    ) -> None:
        """Announce a transition of a record this replica wrote (and the store applied)."""
        if new.writer != self.writer_id:
            return
        event = self._event(endpoint_id, tenant, old, new)
        if event is not None:
            disabled = new.disabled is not None
            log.warning(
                "endpoint disabled by kafkahooks" if disabled else "endpoint enabled again",
                extra={
                    "endpoint_id": endpoint_id,
                    "tenant": tenant,
                    "reason": new.disabled.detail if new.disabled else "endpoint-changed",
                },
            )
            with self._lock:
                self._events.append((endpoint_id, event))
            self.wake()

    def voided(self, endpoint_id: str) -> None:
        self._queue(endpoint_id, _REVIEW)

    def orphaned(self, key: str) -> None:
        with self._lock:
            self._orphans.setdefault(key, self._clock())
        self.wake()

    def _event(
        self, endpoint_id: str, tenant: str, old: EndpointStatus | None, new: EndpointStatus
    ) -> bytes | None:
        was = old.disabled if old is not None else None
        if new.disabled is not None and new.disabled != was:
            kind, data = (
                "endpoint.disabled",
                {
                    "reason": new.disabled.reason,
                    "detail": new.disabled.detail,
                    "failing_since": new.failing_since,
                    "time": new.disabled.at,
                },
            )
        elif was is not None and new.disabled is None:
            ep = self._table.get(endpoint_id)
            if ep is None or not ep.active:
                return None  # changed by its tenant, but left disabled: not an enable
            kind, data = (
                "endpoint.enabled",
                {
                    "reason": "endpoint-changed",
                    "detail": f"a new revision of the endpoint (offset {new.endpoint_revision}) "
                    f"voided the disable ({was.reason})",
                    "failing_since": None,
                    "time": ep.updated,
                },
            )
        else:
            return None
        return orjson.dumps(
            {
                "type": kind,
                "timestamp": _when(float(data["time"] or 0.0)),
                "data": {
                    "endpoint_id": endpoint_id,
                    "tenant": tenant,
                    **data,
                    "endpoint_revision": new.endpoint_revision,
                    "status_offset": new.offset,
                },
            }
        )

    # -- the writer's thread ----------------------------------------------------------------

    def tick(self, now: float) -> HealthWork:
        """Decide what is due at ``now``: the records to write, the events to produce.
        A decision within ``interval`` of this replica's last write of the endpoint
        waits for a later tick."""
        with self._lock:
            pending, self._pending = self._pending, {}
            events, self._events = self._events, []
            orphans = [k for k, seen in self._orphans.items() if now - seen >= _ORPHAN_GRACE]
            for key in orphans:
                del self._orphans[key]
        work = HealthWork(events=events)
        self._written = {}
        waiting: dict[str, _Seen] = {}
        for endpoint_id, seen in pending.items():
            last = self._last.get(endpoint_id)
            if last is not None and now - last < self.interval:
                waiting[endpoint_id] = seen
                continue
            record = self._record(endpoint_id, seen, now)
            if record is not None:
                work.writes.append(record)
                self._last[endpoint_id] = now
                self._written[endpoint_id] = seen
        for key in orphans:
            if self._table.is_orphan(key):
                work.writes.append((key, None))
        with self._lock:
            for endpoint_id, seen in waiting.items():
                if endpoint_id not in self._pending:  # a newer observation came: it decides
                    self._pending[endpoint_id] = seen
        self._forget(now)
        return work

    def retry(self, key: str) -> None:
        """A write of ``key`` (from the last :meth:`tick`) was not acknowledged: decide
        again, on the same observation, at the next tick."""
        if key.startswith("health/"):
            endpoint_id = endpoint_of(key)
            self._last.pop(endpoint_id, None)
            if self._table.is_orphan(key):
                with self._lock:
                    self._orphans.setdefault(key, 0.0)
            else:
                self._queue(endpoint_id, self._written.get(endpoint_id, _REVIEW))

    @property
    def waiting(self) -> int:
        """Decisions not made yet (pending or waiting for the interval)."""
        return len(self._pending)

    def _record(self, endpoint_id: str, seen: _Seen, now: float) -> tuple[str, bytes] | None:
        ep = self._table.get(endpoint_id)
        if ep is None:
            return None
        held = self._table.status_of(endpoint_id)
        if seen is _REVIEW:
            if held is None or held.disabled is None or held.about(ep.offset):
                return None
            change: tuple[float | None, Disable | None] | None = (None, None)
        elif seen.revision != ep.offset:
            return None  # about a version the tenant has replaced since
        else:
            current = held if held is not None and held.about(ep.offset) else None
            change = decide(current, seen.ok, seen.status, seen.at, self.period)
            if change is None and held is not None and held.disabled and not held.about(ep.offset):
                change = (None, None)  # a void disable: clear it (announced as an enable)
        if change is None:
            return None
        status = EndpointStatus(ep.offset, change[0], change[1], self.writer_id)
        revision = -1 if held is None else held.offset
        return status_key(endpoint_id), encode_status(endpoint_id, status, revision, now)

    def _forget(self, now: float) -> None:
        """Drop write times older than the interval (they no longer hold anything back)."""
        if len(self._last) > 1000:
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
