"""``POST …/endpoints/{id}/recover {since}`` and ``GET …/recover/{job}``: re-send failures.

The API only writes the request: a ``recover/<endpoint id>`` record (``state:
requested``, ``endpoints/recover.py``) through the usual write steps (audit intent,
store write applied here, the revision verdict); a bridge replica claims and runs it
(``app/recover.py``) and writes its progress to the same key, which every API replica
follows.  The request names, as its revision, the offset of the job record this
replica holds for the endpoint, so two replicas cannot both start one (the second's
record loses the revision check: 409).  While a job is requested or running, another
request answers 409 (unless the job is stale: no progress for ``STALE_AFTER`` seconds
and never claimed — a bridge-less deployment — in which case the new request
replaces it).

Service functions (:func:`start_recover`, :func:`job_of`, :func:`recover_view`) for the
routes and the portal.  Invariant: a job view holds no secret, only counts, times and states.
"""

# no ``from __future__ import annotations``: FastAPI reads the route functions' annotations
import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from kafkahooks.api.audit import Audit
from kafkahooks.api.auth import Scope, fresh, json_body
from kafkahooks.api.context import ApiContext, request_id
from kafkahooks.api.endpoints import OFFSET_HEADER, endpoint_of_tenant
from kafkahooks.api.errors import (
    ApiError,
    ErrorBodyResponses,
    JsonAnswer,
    conflict,
    not_found,
    validation_errors,
)
from kafkahooks.api.models import RecoverRequest, RecoverView
from kafkahooks.api.writes import check_rate, write_record
from kafkahooks.endpoints import RecoverJob, encode_job, recover_key

__all__ = ["job_of", "recover_router", "recover_view", "start_recover"]

MAX_AGE = 30 * 86400.0  # a `since` further back than dead-letter topics usually keep


def recover_view(job: RecoverJob) -> dict[str, Any]:
    return {
        "job": job.job,
        "endpoint_id": job.endpoint_id,
        "state": job.state,
        "since": job.since,
        "requested": job.requested,
        "started": job.started,
        "finished": job.finished,
        "scanned": job.scanned,
        "resent": job.resent,
        "error": job.error,
    }


def job_of(ctx: ApiContext, tenant: str, endpoint_id: str, job: str) -> dict[str, Any]:
    """The view of the tenant's endpoint's job ``job``, or 404."""
    endpoint_of_tenant(ctx, tenant, endpoint_id)
    held = ctx.store.tables.endpoints.recover_of(endpoint_id)
    if held is None or held.job != job:
        raise not_found(f"no recover job {job} of endpoint {endpoint_id}")
    return recover_view(held)


async def start_recover(
    scope: Scope, audit: Audit, endpoint_id: str, since: float
) -> tuple[dict[str, Any], int]:
    """Write a recover request for the scope's tenant's endpoint; its view and store
    offset.  Raises ``ApiError``: 404, 409 (one is running, or a race lost), 422."""
    ctx = scope.context
    endpoint_of_tenant(ctx, scope.tenant, endpoint_id)
    now = ctx.clock()
    if since > now or since < now - MAX_AGE:
        raise ApiError(422, "validation", "since must be within the last 30 days",
                       errors=[{"field": "since", "message": "out of range"}])  # fmt: skip
    table = ctx.store.tables.endpoints
    held = table.recover_of(endpoint_id)
    if held is not None and held.active and not (held.state == "requested" and held.stale(now)):
        raise ApiError(
            409, "recover_running",
            f"recover job {held.job} of this endpoint is {held.state}; wait for it to finish",
            headers={"Retry-After": "5"},
        )  # fmt: skip
    job = RecoverJob(endpoint_id, f"rcv_{secrets.token_hex(10)}", since, now, updated=now)
    revision = table.offset_of(recover_key(endpoint_id))
    key = recover_key(endpoint_id)

    def won(offset: int) -> bool:
        # the job in force is ours: a bridge may already have claimed it (a later record
        # of the key, naming ours as its revision) before this replica looked
        held = table.recover_of(endpoint_id)
        return table.offset_of(key) == offset or (held is not None and held.job == job.job)

    try:
        offset = await write_record(scope, audit, key, encode_job(job, revision), won=won)
    except ApiError as exc:
        if exc.status == 409:
            raise conflict("another recover of this endpoint was started first") from None
        raise
    applied = table.recover_of(endpoint_id)
    return recover_view(applied if applied is not None else job), offset


def recover_router(scope_of: Callable[..., Scope], *, in_schema: bool = True) -> APIRouter:
    """The recover routes, with ``scope_of`` deciding the tenant."""
    router = APIRouter(tags=["recover"], include_in_schema=in_schema,
                       responses=ErrorBodyResponses)  # fmt: skip
    ScopeDep = Annotated[Scope, Depends(scope_of)]

    @router.post(
        "/endpoints/{endpoint_id}/recover", status_code=202, response_model=RecoverView,
        summary="Re-send the endpoint's dead-lettered deliveries since a time (a bridge runs it)",
        dependencies=[Depends(fresh)],
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": RecoverRequest.model_json_schema()}}}},
    )  # fmt: skip
    async def recover(
        request: Request, scope: ScopeDep, endpoint_id: str,
        body: Annotated[Any, Depends(json_body)],
    ) -> Response:  # fmt: skip
        check_rate(scope)
        try:
            ask = RecoverRequest.model_validate(body if body is not None else {})
        except ValidationError as exc:
            raise validation_errors(exc) from None
        audit = Audit(request_id(request), scope.token_id, scope.tenant, "recover",
                      endpoint_id, ("since",))  # fmt: skip
        view, offset = await start_recover(scope, audit, endpoint_id, ask.since)
        location = f"{request.url.path.rstrip('/')}/{view['job']}"
        return JsonAnswer(view, status_code=202,
                          headers={OFFSET_HEADER: str(offset), "Location": location})  # fmt: skip

    @router.get(
        "/endpoints/{endpoint_id}/recover/{job}", response_model=RecoverView,
        summary="A recover job's progress", dependencies=[Depends(fresh)],
    )  # fmt: skip
    async def recover_job(scope: ScopeDep, endpoint_id: str, job: str) -> Response:
        return JsonAnswer(job_of(scope.context, scope.tenant, endpoint_id, job))

    return router
