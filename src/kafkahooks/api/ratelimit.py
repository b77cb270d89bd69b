"""Rate limits on one replica: writes per token (a token bucket per token id), and
:class:`WindowLimiter` (at most N per key in any window: test sends per endpoint).

Limits are per API replica (there is no shared counter: replicas share nothing but the
store); with N replicas behind a balancer a token may write up to N times the rate.
The README says so.  Invariant: a refused write costs nothing and says when to retry.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter", "WindowLimiter"]

_MAX_TOKENS_TRACKED = 100_000  # buckets kept; beyond it the fullest are forgotten


class RateLimiter:
    """``rate`` writes per second per token id, bursts of up to ``burst``."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate, self._burst, self._clock = rate, float(burst), clock
        self._buckets: dict[str, tuple[float, float]] = {}  # id -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, token_id: str) -> float:
        """0 if a write may go now (and count it), else the seconds until one may."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(token_id, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            if tokens >= 1.0:
                self._buckets[token_id] = (tokens - 1.0, now)
                if len(self._buckets) > _MAX_TOKENS_TRACKED:
                    self._forget_full(now)
                return 0.0
            self._buckets[token_id] = (tokens, now)
            return (1.0 - tokens) / self._rate

    def _forget_full(self, now: float) -> None:
        full = [k for k, (t, at) in self._buckets.items()
                if t + (now - at) * self._rate >= self._burst]  # fmt: skip
        for key in full:
            del self._buckets[key]

    @staticmethod
    def retry_after(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))


class WindowLimiter:
    """At most ``limit`` sends per key in any ``window`` seconds (a sliding log: ten
    timestamps an endpoint at most, forgotten once a window passes)."""

    def __init__(
        self, limit: int = 10, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._sent: dict[str, deque[float]] = {}

    def take(self, key: str) -> float:
        """0 if a send may go now (and counts it), else the seconds until one may."""
        now = self.clock()
        sent = self._sent.setdefault(key, deque())
        while sent and sent[0] <= now - self.window:
            sent.popleft()
        if len(sent) >= self.limit:
            return sent[0] + self.window - now
        sent.append(now)
        if len(self._sent) > 10_000:  # forget idle endpoints now and then
            self._sent = {k: v for k, v in self._sent.items() if v and v[-1] > now - self.window}
        return 0.0
