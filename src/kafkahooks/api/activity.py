"""``…/endpoints/{id}/attempts`` and ``…/stats``: an endpoint's delivery attempts and figures.

The service functions (:func:`endpoint_attempts`, :func:`endpoint_stats`) take the
context, the tenant and the endpoint id and return plain JSON-ready data, so the
portal's pages call them as the routes do; the routes only parse the query.  The data
come from the replica's read model of the delivery log (``api/attemptlog.py``,
``ApiContext.attempts``); a ``since`` older than memory reads the log on a worker
thread (bounded in time, the answer says whether it is complete).
Invariant: another tenant's endpoint is 404 like a missing one (``tenant_endpoint``);
the latencies of the stats are labelled bucket estimates (``method``).
"""

# no ``from __future__ import annotations``: FastAPI reads the route functions' annotations
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from kafkahooks.api.attemptlog import MAX_LIMIT, AttemptsSource
from kafkahooks.api.attempts import StatusFilter
from kafkahooks.api.auth import Scope, fresh
from kafkahooks.api.context import ApiContext
from kafkahooks.api.endpoints import endpoint_of_tenant
from kafkahooks.api.errors import ApiError, ErrorBodyResponses, JsonAnswer, invalid
from kafkahooks.api.models import AttemptsAnswer, StatsAnswer

__all__ = ["activity_router", "endpoint_attempts", "endpoint_stats"]

LOG_READ_TIMEOUT = 5.0  # seconds a `since` older than memory may read the log


def _source(ctx: ApiContext) -> AttemptsSource:
    if ctx.attempts is None:
        raise ApiError(503, "no_delivery_log", "this replica does not read the delivery log",
                       headers={"Retry-After": "5"})  # fmt: skip
    return ctx.attempts


async def endpoint_attempts(
    ctx: ApiContext,
    tenant: str,
    endpoint_id: str,
    *,
    status: str | None = None,
    since: float | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """The ``limit`` newest attempts of the tenant's endpoint (newest first), as JSON
    data: ``{"data": [...], "complete": bool, "source": "memory" | "log"}``.  Raises
    ``ApiError`` (404 not the tenant's, 422 a bad filter, 503 no read model)."""
    endpoint_of_tenant(ctx, tenant, endpoint_id)
    try:
        wanted = None if status is None else StatusFilter.parse(status)
    except ValueError as exc:
        raise invalid("status", str(exc)) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid("limit", f"give 1 to {MAX_LIMIT}")
    source = _source(ctx)
    page = await to_thread.run_sync(
        lambda: source.attempts(
            endpoint_id, status=wanted, since=since, limit=limit, timeout=LOG_READ_TIMEOUT
        )
    )
    return {
        "data": [asdict(a) for a in page.attempts],
        "complete": page.complete,
        "source": page.source,
    }


def endpoint_stats(ctx: ApiContext, tenant: str, endpoint_id: str) -> dict[str, Any]:
    """The tenant's endpoint's figures over 24 h (latencies: bucket estimates)."""
    endpoint_of_tenant(ctx, tenant, endpoint_id)
    return asdict(_source(ctx).stats(endpoint_id))


def activity_router(scope_of: Callable[..., Scope], *, in_schema: bool = True) -> APIRouter:
    """The attempts and stats routes, with ``scope_of`` deciding the tenant."""
    router = APIRouter(tags=["attempts"], include_in_schema=in_schema,
                       responses=ErrorBodyResponses)  # fmt: skip
    ScopeDep = Annotated[Scope, Depends(scope_of)]

    @router.get(
        "/endpoints/{endpoint_id}/attempts", response_model=AttemptsAnswer,
        summary="The endpoint's delivery attempts, newest first",
        dependencies=[Depends(fresh)],
    )  # fmt: skip
    async def attempts(
        scope: ScopeDep,
        endpoint_id: str,
        status: Annotated[
            str | None,
            Query(
                max_length=16,
                description="succeeded, failed, an HTTP status (503) or a class (5xx)",
            ),
        ] = None,
        since: Annotated[float | None, Query(ge=0, description="unix seconds")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    ) -> Response:
        answer = await endpoint_attempts(scope.context, scope.tenant, endpoint_id,
                                         status=status, since=since, limit=limit)  # fmt: skip
        return JsonAnswer(answer)

    @router.get(
        "/endpoints/{endpoint_id}/stats", response_model=StatsAnswer,
        summary="Deliveries, failures and p50/p99 latency over 24 h (bucket estimates)",
        dependencies=[Depends(fresh)],
    )  # fmt: skip
    async def stats(scope: ScopeDep, endpoint_id: str) -> Response:
        return JsonAnswer(endpoint_stats(scope.context, scope.tenant, endpoint_id))

    return router
