"""The management API (``kafkahooks api``).

A lazy door (``kafkahooks/lazy.py``): importing the package imports none of its modules.
Modules here: ``attempts`` (the per-endpoint attempts and hourly statistics index, pure)
and ``attemptlog`` (that index fed from the delivery log, with older history read from it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkahooks.lazy import lazy_door

if TYPE_CHECKING:
    from kafkahooks.api.attemptlog import AttemptsPage, EndpointAttempts, open_endpoint_attempts
    from kafkahooks.api.attempts import (
        Attempt,
        AttemptIndex,
        EndpointStats,
        IndexAnswer,
        LatencyEstimate,
        StatusFilter,
    )

__all__ = [
    "Attempt",
    "AttemptIndex",
    "AttemptsPage",
    "EndpointAttempts",
    "EndpointStats",
    "IndexAnswer",
    "LatencyEstimate",
    "StatusFilter",
    "open_endpoint_attempts",
]

_HOMES = {
    "Attempt": "attempts",
    "AttemptIndex": "attempts",
    "AttemptsPage": "attemptlog",
    "EndpointAttempts": "attemptlog",
    "EndpointStats": "attempts",
    "IndexAnswer": "attempts",
    "LatencyEstimate": "attempts",
    "StatusFilter": "attempts",
    "open_endpoint_attempts": "attemptlog",
}

__getattr__ = lazy_door(__name__, globals(), _HOMES)
