"""What every API request reaches: the store, the audit trail, limits, resolver, clock.

One :class:`ApiContext` per app (``app.state.context``), built by ``api/server.py``
from the routes file, or by a test with fakes (a store in memory, a stub resolver).
Invariant: resources read the context only through :func:`context`, so a router
module added later (attempts, stats, recover, test sends) needs nothing else wired.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from kafkahooks.api.audit import AuditRecorder
from kafkahooks.api.ratelimit import RateLimiter, WindowLimiter
from kafkahooks.api.state import ApiStore
from kafkahooks.config import ApiConfig, RoutesFile
from kafkahooks.delivery import Resolver

if TYPE_CHECKING:
    from kafkahooks.api.attemptlog import AttemptsSource

__all__ = ["ApiContext", "context", "request_id"]


@dataclass
class ApiContext:
    config: ApiConfig
    routes: RoutesFile
    store: ApiStore
    audit: AuditRecorder
    resolver: Resolver
    allow_local: bool = False
    clock: Callable[[], float] = time.time
    limiter: RateLimiter = field(init=False)
    catalogue: list[dict[str, Any]] = field(default_factory=list)
    # the delivery log's read model (``EndpointAttempts``); None: attempts/stats answer 503
    attempts: AttemptsSource | None = None
    # test sends per endpoint (``api/testsend.py``): 10 a minute on this replica
    test_sends: WindowLimiter = field(default_factory=lambda: WindowLimiter(10, 60.0))

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.config.writes_per_second, self.config.write_burst)


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.context
    return ctx


def request_id(request: Request) -> str:
    """The request's id (``Kafkahooks-Request-Id``; the id in its audit records)."""
    rid: str | None = getattr(request.state, "request_id", None)
    return rid or f"req_{uuid.uuid4().hex}"
