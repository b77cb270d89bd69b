"""Per-endpoint attempts and hourly statistics, in memory, fed from the delivery log.

Job: keep, for each customer endpoint, its last 1,000 delivery attempts and hourly
aggregates (attempts, failures, a latency histogram) for 25 hours, and answer
``attempts(endpoint, status, since, limit)`` (newest first) and ``stats(endpoint)`` (the
last 24 hours).  Pure: no Kafka, no HTTP; ``api/attemptlog.py`` feeds it from the
delivery-log follower and reads older history from the log when an answer says it is
not complete.

Invariants:

- An answer says whether it is complete: it is when every attempt the index was ever
  given at or after ``since`` is still kept (``since`` at or after the index's ``start``
  and after the newest attempt a full ring evicted), or when the ``limit`` newest matches
  are all newer than anything evicted.  Otherwise the caller reads the log.
- Statistics are bucket estimates and say so: a latency quantile is the histogram bucket
  it falls in (buckets √2 apart: 1 ms … 65.5 s), given as its bounds and their geometric
  middle, within ±19 % of the truth.  Hours are whole UTC hours: "24 h" is the current
  hour and the 24 before it, which is why 25 are kept.  An attempt older than that is
  counted in no hour (it may still sit in its endpoint's ring).
- One lock: the follower thread adds, request threads read; each holds it briefly
  (a query scans at most one ring of 1,000).

Memory (the issue's budget: ≤ 300 MB for 1,000,000 log records over 10,000 endpoints):
a ring is columnar — ``array`` columns for time, latency, status, attempt number, and
2-byte codes of event types and errors (each distinct text stored once for all rings), and
a ``bytearray`` of event ids as 36 ASCII bytes (``evt_`` + 32 hex digits; an id of another
length is kept as text) — about 58 bytes per kept attempt and no object per attempt, against
~400 bytes for a dataclass and its strings (and the fragmentation a million small
objects leave); the hourly aggregates are one flat ``array('I')`` of 25 x 36
counters per endpoint that has attempts (3.6 KB).  Endpoints without attempts cost
nothing.  Measured (``bench/attempts_index.py``): 1,000,000 records over 10,000 endpoints,
901,000 kept, add 138 MB to the process, the follower's prefetch included (a first version
with a string per event id and librdkafka's default prefetch queue: 240 MB).
"""

from __future__ import annotations

import heapq
import math
import re
import threading
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kafkahooks.kafka import AttemptRecord

__all__ = [
    "HOURS",
    "KEEP",
    "STATS_METHOD",
    "Attempt",
    "AttemptIndex",
    "EndpointStats",
    "IndexAnswer",
    "LatencyEstimate",
    "StatusFilter",
]

KEEP = 1_000  # attempts kept per endpoint
HOURS = 25  # hourly aggregates kept: the current hour and the 24 before it
_HOUR = 3600.0
_BUCKETS = 34  # [0, 1 ms], then √2 apart up to 65,536 ms, then everything slower
_TOP = 65_536.0
_ROW = 2 + _BUCKETS  # per hour: attempts, failures, the latency histogram
STATS_METHOD = (
    "bucket estimates from hourly latency histograms (buckets √2 apart): each quantile "
    "is given as the bounds of the bucket it falls in and their geometric middle"
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP attempt to an endpoint, as the API shows it."""

    at: float  # unix seconds
    event_id: str
    event_type: str | None
    attempt: int
    status: int | None  # None: no response (timeout, refused, endpoint gone)
    latency_ms: float
    error: str | None  # None: delivered (2xx)


@dataclass(frozen=True, slots=True)
class IndexAnswer:
    """Newest first.  ``complete`` False: older matches may exist that only the log has."""

    attempts: list[Attempt]
    complete: bool


@dataclass(frozen=True, slots=True)
class LatencyEstimate:
    """A quantile's histogram bucket: the true value lies in (``low_ms``, ``high_ms``];
    ``high_ms`` is ``None`` for the last, open bucket (slower than 65.5 s)."""

    estimate_ms: float
    low_ms: float
    high_ms: float | None


@dataclass(frozen=True, slots=True)
class EndpointStats:
    endpoint_id: str
    since: float  # the start of the oldest hour counted (unix seconds)
    until: float  # now
    attempts: int
    deliveries: int  # attempts answered 2xx: an event delivered
    failures: int  # attempts that failed (an error status, no response, endpoint gone)
    p50: LatencyEstimate | None  # None: no attempt in the window had a latency
    p99: LatencyEstimate | None
    method: str = STATS_METHOD


_STATUS = re.compile(r"^([1-5])(?:xx|XX)$")


@dataclass(frozen=True, slots=True)
class StatusFilter:
    """``succeeded`` (no error), ``failed``, an exact status (``503``) or a class (``5xx``)."""

    outcome: str | None = None  # "succeeded" | "failed"
    exact: int | None = None
    status_class: int | None = None  # 5 for 5xx

    @classmethod
    def parse(cls, text: str) -> StatusFilter:
        """Raises ``ValueError`` naming the accepted forms."""
        word = text.strip().lower()
        if word in ("succeeded", "success", "delivered"):
            return cls(outcome="succeeded")
        if word in ("failed", "failure", "failures"):
            return cls(outcome="failed")
        if word.isdigit() and len(word) == 3 and 100 <= int(word) <= 599:
            return cls(exact=int(word))
        if (match := _STATUS.match(word)) is not None:
            return cls(status_class=int(match.group(1)))
        raise ValueError(
            f"status {text!r}: use succeeded, failed, an HTTP status (503) or a class (5xx)"
        )

    def matches(self, status: int | None, failed: bool) -> bool:
        """``failed``: the attempt has an error (anything but a 2xx answer)."""
        if self.outcome is not None:
            return failed == (self.outcome == "failed")
        if self.exact is not None:
            return status == self.exact
        return status is not None and status // 100 == self.status_class


# the upper bounds of the closed buckets: bucket b holds (2^((b-1)/2), 2^(b/2)] ms, bucket 0
# [0, 1] ms; bisect finds a latency's bucket (past the last bound: the open bucket)
_UPPER = [2 ** (b / 2) for b in range(_BUCKETS - 1)]


def _bounds(bucket: int) -> LatencyEstimate:
    if bucket == 0:
        return LatencyEstimate(0.5, 0.0, 1.0)  # no geometric middle above 0: the midpoint
    low = 2 ** ((bucket - 1) / 2)
    if bucket == _BUCKETS - 1:
        return LatencyEstimate(_TOP, _TOP, None)
    high = 2 ** (bucket / 2)
    return LatencyEstimate(round(math.sqrt(low * high), 3), round(low, 3), round(high, 3))


_NONE, _OVERFLOW = 0, 0xFFFF  # text codes: no text; a text the full table could not take
_ID_BYTES = 36  # an event id's length (``evt_`` + 32 hex digits, event.py): kept as bytes


class _Texts:
    """Event types and errors, each distinct text stored once, shared by every ring and
    named by a 2-byte code.  Bounded: past 65,534 texts a ring keeps the text itself."""

    def __init__(self) -> None:
        self.texts: list[str | None] = [None]
        self._codes: dict[str, int] = {}

    def code(self, text: str | None) -> int:
        if text is None:
            return _NONE
        code = self._codes.get(text)
        if code is None:
            if len(self.texts) >= _OVERFLOW:
                return _OVERFLOW
            code = self._codes[text] = len(self.texts)
            self.texts.append(text)
        return code


_BLANK_ID = bytes(_ID_BYTES)
_ID, _TYPE, _ERROR = 0, 1, 2  # the fields a ring may have to keep as text (``odd``)


class _Ring:
    """The last ``keep`` attempts of one endpoint, column by column (module doc): about
    58 bytes an attempt, no object per attempt."""

    __slots__ = (
        "at",
        "attempt",
        "errors",
        "evicted_at",
        "head",
        "ids",
        "latency",
        "odd",
        "status",
        "types",
    )

    def __init__(self) -> None:
        self.at = array("d")
        self.latency = array("f")
        self.status = array("H")  # 0: no response
        self.attempt = array("I")
        self.ids = bytearray()  # 36 bytes an attempt
        self.types = array("H")  # codes in the index's _Texts
        self.errors = array("H")
        self.odd: dict[tuple[int, int], str] | None = None  # (field, slot) → text
        self.head = 0  # the oldest slot once full
        self.evicted_at = -math.inf  # the newest time of an evicted attempt

    def add(self, r: AttemptRecord, keep: int, etype: int, error: int) -> None:
        """Append, or overwrite the oldest slot once ``keep`` are held.  The hot path of
        a catch-up (a million calls): values are checked before any column changes."""
        status = r.status or 0
        if not 0 <= status < 65_536:
            status = 0
        attempt = r.attempt
        if not 0 <= attempt <= 0xFFFFFFFF:
            attempt = 0
        eid = r.event_id
        packed = eid.encode() if len(eid) == _ID_BYTES and eid.isascii() else None
        i = len(self.at)
        if i < keep:
            self.at.append(r.at)
            self.latency.append(r.latency_ms)
            self.status.append(status)
            self.attempt.append(attempt)
            self.ids += packed or _BLANK_ID
            self.types.append(etype)
            self.errors.append(error)
        else:
            i = self.head
            self.evicted_at = max(self.evicted_at, self.at[i])
            self.at[i], self.latency[i], self.status[i], self.attempt[i] = (
                r.at, r.latency_ms, status, attempt
            )  # fmt: skip
            self.ids[i * _ID_BYTES : (i + 1) * _ID_BYTES] = packed or _BLANK_ID
            self.types[i], self.errors[i] = etype, error
            self.head = (i + 1) % keep
            if self.odd is not None:
                for field in (_ID, _TYPE, _ERROR):
                    self.odd.pop((field, i), None)
        if packed is None:
            self._keep_text(_ID, i, eid)
        if etype == _OVERFLOW:
            self._keep_text(_TYPE, i, r.event_type)
        if error == _OVERFLOW:
            self._keep_text(_ERROR, i, r.error)

    def _keep_text(self, field: int, slot: int, text: str | None) -> None:
        if text is not None:
            if self.odd is None:
                self.odd = {}
            self.odd[(field, slot)] = text

    def _text(self, field: int, slot: int, code: int, texts: _Texts) -> str | None:
        if code == _OVERFLOW and self.odd is not None:
            return self.odd.get((field, slot))
        return texts.texts[code]

    def row(self, i: int, texts: _Texts) -> Attempt:
        odd_id = self.odd.get((_ID, i)) if self.odd is not None else None
        return Attempt(
            self.at[i],
            odd_id or self.ids[i * _ID_BYTES : (i + 1) * _ID_BYTES].decode(),
            self._text(_TYPE, i, self.types[i], texts),
            self.attempt[i],
            self.status[i] or None,
            round(self.latency[i], 2),
            self._text(_ERROR, i, self.errors[i], texts),
        )

    def matching(self, since: float | None, status: StatusFilter | None) -> list[int]:
        at = self.at
        slots: Iterable[int] = range(len(at))
        if since is not None:
            slots = [i for i in slots if at[i] >= since]
        if status is not None:
            codes, errors = self.status, self.errors
            slots = [i for i in slots if status.matches(codes[i] or None, errors[i] != _NONE)]
        return list(slots)


_ZEROS = array("I", [0]) * _ROW


class _Hours:
    """Hourly aggregates of one endpoint: 25 rows of [attempts, failures, histogram]."""

    __slots__ = ("counts", "hours")

    def __init__(self) -> None:
        self.hours = array("q", [-1]) * HOURS  # the hour (since the epoch) each row holds
        self.counts = array("I", [0]) * (HOURS * _ROW)

    def add(self, hour: int, failed: bool, latency_ms: float | None) -> None:
        slot = hour % HOURS
        base = slot * _ROW
        counts = self.counts
        if self.hours[slot] != hour:
            if self.hours[slot] > hour:
                return  # older than the row's hour: 25 h have passed since
            self.hours[slot] = hour
            counts[base : base + _ROW] = _ZEROS
        counts[base] += 1
        if failed:
            counts[base + 1] += 1
        if latency_ms is not None:
            counts[base + 2 + bisect_left(_UPPER, latency_ms)] += 1

    def totals(self, first: int, last: int) -> tuple[int, int, list[int]]:
        attempts = failures = 0
        histogram = [0] * _BUCKETS
        for slot, hour in enumerate(self.hours):
            if first <= hour <= last:
                base = slot * _ROW
                attempts += self.counts[base]
                failures += self.counts[base + 1]
                for b in range(_BUCKETS):
                    histogram[b] += self.counts[base + 2 + b]
        return attempts, failures, histogram


def _quantile(histogram: list[int], q: float) -> LatencyEstimate | None:
    total = sum(histogram)
    if total == 0:
        return None
    rank = max(math.ceil(q * total), 1)
    seen = 0
    for bucket, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return _bounds(bucket)
    return _bounds(_BUCKETS - 1)  # pragma: no cover - the counts add up to total


class AttemptIndex:
    """Attempts and hourly aggregates per customer endpoint (module doc).

    ``start``: the index holds every attempt at or after this time (unix seconds) that it
    was given — the follower's catch-up starts there.  ``clock`` gives "now" for the
    statistics' window and for dropping aggregates older than 25 h (tests pass a fake).
    """

    def __init__(
        self, start: float, *, keep: int = KEEP, clock: Callable[[], float] = time.time
    ) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.start = start
        self.keep = keep
        self._clock = clock
        self._rings: dict[str, _Ring] = {}
        self._hours: dict[str, _Hours] = {}
        self._texts = _Texts()
        self._lock = threading.Lock()
        self.added = 0  # attempts taken (customer endpoints' only)

    def __len__(self) -> int:
        """Endpoints with at least one kept attempt."""
        return len(self._rings)

    def kept(self) -> int:
        """Attempts kept in all rings."""
        with self._lock:
            return sum(len(ring.at) for ring in self._rings.values())

    def add(self, record: AttemptRecord) -> None:
        self.add_many((record,))

    def add_many(self, records: Iterable[AttemptRecord]) -> None:
        """Take attempts in log order; fixed-endpoint attempts (no ``endpoint_id``) are
        not kept."""
        oldest_hour = int(self._clock() // _HOUR) - (HOURS - 1)
        with self._lock:
            for record in records:
                if record.endpoint_id is not None:
                    self._add(record, record.endpoint_id, oldest_hour)

    def _add(self, r: AttemptRecord, endpoint_id: str, oldest_hour: int) -> None:
        ring = self._rings.get(endpoint_id)
        if ring is None:
            ring = self._rings[endpoint_id] = _Ring()
        texts = self._texts
        ring.add(r, self.keep, texts.code(r.event_type), texts.code(r.error))
        self.added += 1
        hour = int(r.at // _HOUR)
        if hour < oldest_hour:
            return
        hours = self._hours.get(endpoint_id)
        if hours is None:
            hours = self._hours[endpoint_id] = _Hours()
        timed = r.status is not None or r.latency_ms > 0  # "endpoint gone" sent nothing
        hours.add(hour, r.error is not None, r.latency_ms if timed else None)

    def attempts(
        self,
        endpoint_id: str,
        *,
        status: StatusFilter | None = None,
        since: float | None = None,
        limit: int = 50,
    ) -> IndexAnswer:
        """The ``limit`` newest kept attempts of ``endpoint_id`` at or after ``since``
        matching ``status``, newest first.  Without ``since`` the answer is what is kept
        (always complete); with one, see :class:`IndexAnswer`."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        with self._lock:
            ring = self._rings.get(endpoint_id)
            if ring is None:
                return IndexAnswer([], since is None or since >= self.start)
            slots = ring.matching(since, status)
            newest = heapq.nlargest(limit, slots, key=ring.at.__getitem__)
            rows = [ring.row(i, self._texts) for i in newest]
            evicted_at = ring.evicted_at
        return IndexAnswer(rows, self._complete(rows, since, limit, evicted_at))

    def _complete(
        self, rows: list[Attempt], since: float | None, limit: int, evicted_at: float
    ) -> bool:
        if since is None or (since >= self.start and since > evicted_at):
            return True
        # enough matches, all newer than anything evicted or not yet indexed
        return len(rows) == limit and rows[-1].at > max(evicted_at, self.start)

    def stats(self, endpoint_id: str) -> EndpointStats:
        """Attempts, deliveries, failures and latency quantiles over the current hour and
        the 24 before it (bucket estimates; module doc)."""
        now = self._clock()
        last = int(now // _HOUR)
        first = last - (HOURS - 1)
        with self._lock:
            hours = self._hours.get(endpoint_id)
            attempts, failures, histogram = (
                hours.totals(first, last) if hours is not None else (0, 0, [0] * _BUCKETS)
            )
        return EndpointStats(
            endpoint_id,
            since=first * _HOUR,
            until=now,
            attempts=attempts,
            deliveries=attempts - failures,
            failures=failures,
            p50=_quantile(histogram, 0.50),
            p99=_quantile(histogram, 0.99),
        )
