"""Failed attempts made visible: the log line when one fails, the response excerpt, the endpoint.

A failed attempt is logged when it fails (route, endpoint origin, status, latency,
attempt n of m, error class), at most one line per endpoint every
:data:`LOG_EVERY` seconds; the lines held back meanwhile are counted in the next one
(``suppressed``), so a receiver that fails every request cannot flood the log.
A successful attempt never reaches this module.

What a receiver answered is untrusted text: :func:`response_excerpt` keeps at most
:data:`EXCERPT_CHARS` characters and escapes every control character, so an excerpt
can go into a log line, a delivery-log record or a Kafka header as it is.
:func:`endpoint_of` prints a route's target without query or user info, and with every
path segment that came from a ``${VAR}`` masked (config/urls.py): no secrets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from kafkahooks.delivery.errors import DeliveryError
from kafkahooks.delivery.route import Route

__all__ = ["EXCERPT_CHARS", "LOG_EVERY", "FailedAttempts", "endpoint_of", "response_excerpt"]

EXCERPT_CHARS = 256
LOG_EVERY = 5.0  # seconds between two failed-attempt lines for one endpoint

log = logging.getLogger("kafkahooks.deliverer")


def response_excerpt(body: bytes, limit: int = EXCERPT_CHARS) -> str:
    """The first ``limit`` characters of a response body, control characters escaped
    (``\\n``, ``\\x1b``, ``\\u2028``...); invalid UTF-8 is replaced, never raised."""
    text = body[: limit * 4].decode("utf-8", "replace")[:limit]
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else _escaped(c) for c in text)


def _escaped(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


def endpoint_of(route: Route) -> str | None:
    """``scheme://host[:port]/path`` of the route's target, secret path segments masked;
    ``None`` for a route with ``endpoints:`` (no fixed target)."""
    endpoint = route.config.endpoint
    return None if endpoint is None else endpoint.shown_url.partition("?")[0]


def _origin(route: Route) -> str:
    parts = urlsplit(route.config.target.url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class FailedAttempts:
    """Logs failed attempts, rate-limited per endpoint origin."""

    def __init__(self, every: float = LOG_EVERY, clock: Callable[[], float] = time.monotonic):
        self.every = every
        self._clock = clock
        self._last: dict[str, float] = {}  # origin -> when its last line was written
        self._held: dict[str, int] = {}  # origin -> lines held back since

    def failed(
        self,
        route: Route,
        attempt: int,
        status: int | None,
        latency: float,
        error: DeliveryError,
        origin: str | None = None,
        endpoint_id: str | None = None,
    ) -> None:
        """``origin`` and ``endpoint_id``: a customer endpoint's (``endpoints:`` routes)."""
        if origin is None:
            origin = _origin(route)
        now = self._clock()
        last = self._last.get(origin)
        if last is not None and now - last < self.every:
            self._held[origin] = self._held.get(origin, 0) + 1
            return
        self._last[origin] = now
        suppressed = self._held.pop(origin, 0)
        of = route.config.retry.max_attempts
        log.warning(
            "delivery attempt %d of %d failed: %s",
            attempt,
            of,
            "no response" if status is None else f"HTTP {status}",
            extra={
                "route": route.name,
                "endpoint": origin,
                "status": status,
                "latency_ms": round(latency * 1000, 1),
                "attempt": attempt,
                "max_attempts": of,
                "error_class": type(error).__name__,
                "suppressed": suppressed,
                **({"endpoint_id": endpoint_id} if endpoint_id is not None else {}),
            },
        )
