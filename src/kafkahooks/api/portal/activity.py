"""What the portal's pages need of delivery activity: small interfaces, filled in later.

The attempts/stats read model, test sends and recovers are API features of their own
(issue 17: ``…/attempts``, ``…/stats``, ``…/test``, ``…/recover``); the pages call the
same service functions those routes call, through these three protocols, held by
:class:`PortalActivity` on the app (``app.state.portal_activity``).  A part left
``None`` is shown as "not available on this server" and its buttons are not drawn.
Invariant: every call names the endpoint already checked to be the session tenant's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from kafkahooks.api.auth import Scope
from kafkahooks.endpoints import Endpoint

__all__ = ["AttemptsReader", "PortalActivity", "Recoverer", "TestSender"]


class AttemptsReader(Protocol):
    def summary(self, endpoint_id: str) -> dict[str, Any] | None:
        """``{"deliveries", "failures", "last_failure": {"time", "status", "error"}}``
        over the last 24 h, or ``None`` when nothing is known."""
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
    async def start(self, scope: Scope, endpoint: Endpoint, since: float) -> str:
        """Start re-sending the endpoint's dead-lettered deliveries since ``since``;
        the job id.  Raises ``ApiError`` (e.g. 409: one is running)."""
        ...


@dataclass
class PortalActivity:
    attempts: AttemptsReader | None = None
    tests: TestSender | None = None
    recovers: Recoverer | None = None
