"""Endpoint ids: ``ep_`` + a ULID (26 Crockford base32 characters, time-ordered).

A ULID is 48 bits of Unix milliseconds then 80 random bits.  Invariant: ids made by
one process sort in the order they were made — within one millisecond the random
part is incremented instead of drawn again (the ULID spec's monotonic mode), and a
clock that steps back keeps the last millisecond.
"""

from __future__ import annotations

import secrets
import threading
import time

__all__ = ["ENDPOINT_ID_PREFIX", "is_endpoint_id", "new_endpoint_id"]

ENDPOINT_ID_PREFIX = "ep_"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_MAX = (1 << 80) - 1

_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _ulid(ms: int, rand: int) -> str:
    value = (ms << 80) | rand
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_endpoint_id() -> str:
    """A new ``ep_<ULID>``, later than every id this process made before."""
    global _last_ms, _last_random
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            if _last_random == _RANDOM_MAX:  # 2^80 ids in one millisecond: borrow the next
                ms, _last_random = ms + 1, secrets.randbits(79)
            else:
                _last_random += 1
        else:
            _last_random = secrets.randbits(79)  # headroom for increments within the ms
        _last_ms = ms
        return ENDPOINT_ID_PREFIX + _ulid(ms, _last_random)


def is_endpoint_id(value: str) -> bool:
    """Whether ``value`` has the shape of an endpoint id (``ep_`` + 26 Crockford chars)."""
    body = value[len(ENDPOINT_ID_PREFIX) :]
    return (
        value.startswith(ENDPOINT_ID_PREFIX)
        and len(body) == 26
        and all(c in _CROCKFORD for c in body)
    )
