"""One error tree for delivery outcomes, and the one function that classifies.

::

    DeliveryError                (a KafkahooksError: see kafkahooks.errors)
    ├── RetryableDeliveryError   408, 429, 5xx, connection errors, timeouts
    │   └── EndpointBackloggedError  a customer endpoint cannot take it now (queue full,
    │                            circuit open, rate limit): parked at once, nothing sent
    └── PermanentDeliveryError   other 4xx, 3xx, events that cannot be rendered
        ├── TargetRefusedError   the transport guard refused the target (nothing sent)
        ├── RouteDisabledError   the endpoint answered 410 Gone earlier
        ├── EndpointDeletedError a customer endpoint was deleted (finished, not dead-lettered)
        ├── EndpointDisabledError a customer endpoint was disabled (dead-lettered once)
        ├── NoTenantError        a tenant route's event names no tenant
        └── InternalError        an unexpected exception inside an attempt (a bug)

Retry logic keys off the two branches only.  ``InternalError`` is how a bug
that hits one event or batch stays that event's outcome (dead-lettered, named
by the exception's class) instead of stopping the bridge; it counts toward the
dead-letter limit, so a bug that hits every event still stops it.

A receiver writes ``Retry-After``, so it is parsed strictly: ASCII digits or an
HTTP date, anything else ignored, and nothing it holds can raise.
"""

from __future__ import annotations

__all__ = [
    "DeadLetterWriteError",
    "DeliveryError",
    "EndpointBackloggedError",
    "EndpointDeletedError",
    "EndpointDisabledError",
    "EndpointGoneError",
    "InternalError",
    "NoTenantError",
    "PermanentDeliveryError",
    "RetryableDeliveryError",
    "RouteDisabledError",
    "TargetRefusedError",
    "classify_status",
    "classify_transport_error",
    "parse_retry_after",
]

import datetime as dt
import email.utils
import math
import re
import time

from kafkahooks.errors import HaltError, KafkahooksError

_RETRYABLE_4XX = frozenset({408, 429})
_DELTA_SECONDS = re.compile(r"[0-9]+")  # ASCII only: "²".isdigit() is true
_DATE_TEXT = re.compile(r"[A-Za-z0-9 ,:+-]{1,64}")  # the characters an HTTP date uses


class DeliveryError(KafkahooksError):
    """A delivery attempt did not succeed."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class RetryableDeliveryError(DeliveryError):
    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason, status)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    pass


class TargetRefusedError(PermanentDeliveryError):
    """The transport guard refused the target (scheme, or a non-public address it named
    or resolved to): nothing was sent to it."""


class EndpointBackloggedError(RetryableDeliveryError):
    """A customer endpoint cannot take the event now, found before an attempt was sent:
    it holds ``endpoint_queue`` events already (``endpoint-queue-full``), its circuit is
    open (``circuit-open``) or its own rate limit would hold the event too long
    (``rate-limited``).  Not retried in process: the event is parked at once on its
    route's retry topic, on the tier it is on (at least the first), so waiting for a
    customer's endpoint never holds a place in the window (issue 16)."""


class RouteDisabledError(PermanentDeliveryError):
    """The route's endpoint answered 410 Gone earlier: nothing more is sent until restart.

    Dead letters with this error do not count toward the dead-letter limit.
    """

    def __init__(self) -> None:
        super().__init__("route-disabled")


class EndpointGoneError(PermanentDeliveryError):
    """The customer endpoint a delivery is for cannot take it any more, found before an
    attempt was sent (each attempt reads the endpoint as it is then)."""


class EndpointDeletedError(EndpointGoneError):
    """The endpoint was deleted: the delivery is finished as ``endpoint-deleted``
    (counted and in the delivery log), never dead-lettered."""

    def __init__(self) -> None:
        super().__init__("endpoint-deleted")


class EndpointDisabledError(EndpointGoneError):
    """The endpoint was disabled (``active: false``, or by the bridge: ``detail`` says
    why, e.g. ``HTTP 410 Gone``): its waiting event is dead-lettered once with this
    reason; later events do not match it."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(f"endpoint-disabled ({detail})" if detail else "endpoint-disabled")


class NoTenantError(PermanentDeliveryError):
    """The event's tenant path gave no tenant (missing, null, empty, or neither a
    string nor an integer): the platform's data is wrong, and the dead letter counts
    toward the dead-letter limit."""

    def __init__(self) -> None:
        super().__init__("no-tenant")


class InternalError(PermanentDeliveryError):
    """An unexpected exception inside an attempt: a bug, not the receiver's answer.

    The reason names only the exception's class: its message may hold event
    data or a secret.  The exception itself is kept as ``__cause__`` for the log.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(f"internal error: {type(error).__name__}")
        self.error_class = type(error).__name__


class DeadLetterWriteError(HaltError):
    """The broker did not acknowledge a dead letter (or a parked event): progress must stop.

    Not a delivery outcome: a :class:`~kafkahooks.errors.HaltError` beside this tree.
    """


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date.

    ``None`` when absent or unreadable (the normal backoff applies); a date in the
    past is 0; a value too large for a date or a float is ``inf`` (the caller caps it).
    """
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)  # "9" * 400 is inf, never an error
    if not _DATE_TEXT.fullmatch(value):
        return None
    when = _http_date(value)
    if when is None:
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _http_date(value: str) -> float | None:
    """A POSIX time from an HTTP date, ``inf`` beyond year 9999, ``None`` if unreadable."""
    try:
        parts = email.utils.parsedate_tz(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts[:6]
    offset = parts[9] or 0
    if year > dt.MAXYEAR:
        return math.inf  # a far future: waits as long as the cap allows
    if abs(offset) >= 86_400:
        return None
    try:
        when = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except (ValueError, OverflowError):  # day 99, hour 25, year 0, ...
        return None
    return when.timestamp() - offset


def classify_status(status: int, retry_after: str | None = None) -> DeliveryError | None:
    """``None`` for success (2xx); otherwise the error to raise."""
    if 200 <= status < 300:
        return None
    if status in _RETRYABLE_4XX or status >= 500:
        return RetryableDeliveryError(
            f"HTTP {status}", status=status, retry_after=parse_retry_after(retry_after)
        )
    if 300 <= status < 400:
        return PermanentDeliveryError(f"HTTP {status}: redirects are not followed", status)
    return PermanentDeliveryError(f"HTTP {status}", status)


def classify_transport_error(exc: BaseException) -> DeliveryError:
    """Connection errors and timeouts are retryable; name only the class (no URL)."""
    return RetryableDeliveryError(f"{type(exc).__name__}: no response")
