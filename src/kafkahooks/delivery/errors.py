"""One error tree for delivery outcomes, and the one function that classifies.

``DeliveryError`` → ``RetryableDeliveryError`` (408, 429, 5xx, connection
errors and timeouts) or ``PermanentDeliveryError`` (other 4xx, 3xx, events
that cannot be rendered).  Retry logic keys off these two classes only.
"""

from __future__ import annotations

__all__ = [
    "DeadLetterWriteError",
    "DeliveryError",
    "PermanentDeliveryError",
    "RetryableDeliveryError",
    "RouteDisabledError",
    "classify_status",
    "classify_transport_error",
    "parse_retry_after",
]

import email.utils
import time

_RETRYABLE_4XX = frozenset({408, 429})


class DeliveryError(Exception):
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


class RouteDisabledError(PermanentDeliveryError):
    """The route's endpoint answered 410 Gone earlier: nothing more is sent until restart.

    Dead letters with this error do not count toward the dead-letter limit.
    """

    def __init__(self) -> None:
        super().__init__("route-disabled")


class DeadLetterWriteError(Exception):
    """The dead-letter topic did not acknowledge a write: progress must stop."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


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
