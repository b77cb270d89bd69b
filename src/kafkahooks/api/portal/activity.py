"""What the portal's pages need of delivery activity: small interfaces, filled in later.

The attempts/stats read model, test sends and recovers are API features of their own
(issue 17: ``…/attempts``, ``…/stats``, ``…/test``, ``…/recover``); the pages call the
same service functions those routes call, through these three protocols, held by
:class:`PortalActivity` on the app (``app.state.portal_activity``).  Attempts and stats
come from the read model on the context (``ApiContext.attempts``, wrapped by
:class:`ReadModelAttempts`) whenever it is there.  A part left ``None`` is shown as
"not available on this server" and its buttons are not drawn.
Invariant: every call names the endpoint already checked to be the session tenant's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from kafkahooks.api.attemptlog import AttemptsSource
from kafkahooks.api.attempts import StatusFilter
from kafkahooks.api.auth import Scope
from kafkahooks.endpoints import Endpoint

__all__ = ["AttemptsReader", "PortalActivity", "ReadModelAttempts", "Recoverer", "TestSender"]


class AttemptsReader(Protocol):
    def summary(self, endpoint_id: str) -> dict[str, Any] | None:
        """``{"attempts", "deliveries" (2xx), "failures", "last_failure": {"time",
        "status", "error"} | None}`` over the last 24 h, or ``None`` (no attempts)."""
        ...

    def recent(self, endpoint_id: str, limit: int) -> list[dict[str, Any]]:
        """The newest attempts first: ``time, event_id, event_type, attempt, status,
        latency_ms, error``."""
        ...


class TestSender(Protocol):
    async def send_test(self, scope: Scope, endpoint: Endpoint, event_type: str) -> dict[str, Any]:
        """The route's sample event sent for real: ``status, latency_ms, response
        (an excerpt), error``; raises ``ApiError`` as the API's route answers."""
        ...


class Recoverer(Protocol):
    async def start(self, scope: Scope, endpoint: Endpoint, since: float, rid: str) -> str:
        """Start re-sending the endpoint's dead-lettered deliveries since ``since``
        (``rid``: the request's id, for the audit record); the job id.  Raises
        ``ApiError`` (e.g. 409: one is running)."""
        ...


@dataclass
class PortalActivity:
    attempts: AttemptsReader | None = None
    tests: TestSender | None = None
    recovers: Recoverer | None = None


class ReadModelAttempts:
    """:class:`AttemptsReader` over the API's attempts and stats read model
    (``api/attemptlog.py``, the same one ``…/attempts`` and ``…/stats`` answer from)."""

    def __init__(self, model: AttemptsSource) -> None:
        self.model = model

    def summary(self, endpoint_id: str) -> dict[str, Any] | None:
        stats = self.model.stats(endpoint_id)
        if stats.attempts == 0:
            return None
        failed = self.model.attempts(endpoint_id, status=StatusFilter(outcome="failed"), limit=1)
        last = failed.attempts[0] if failed.attempts else None
        return {
            "attempts": stats.attempts,
            "deliveries": stats.deliveries,
            "failures": stats.failures,
            "last_failure": None
            if last is None
            else {"time": last.at, "status": last.status, "error": last.error},
        }

    def recent(self, endpoint_id: str, limit: int) -> list[dict[str, Any]]:
        page = self.model.attempts(endpoint_id, limit=limit)
        return [
            {"time": a.at, "event_id": a.event_id, "event_type": a.event_type,
             "attempt": a.attempt, "status": a.status, "latency_ms": a.latency_ms,
             "error": a.error}
            for a in page.attempts
        ]  # fmt: skip
