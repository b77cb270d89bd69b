"""``POST …/endpoints/{id}/test {event_type}``: one signed sample delivery, its answer shown.

:func:`send_test` (the service the route and the portal call) builds the request the
route would send the endpoint for the route's built-in sample of ``event_type`` —
template, the endpoint's signature, the transport guard, the real HTTP client
(``delivery/sample.py``, shared with ``kafkahooks endpoints test``) — with a
``webhook-id`` of ``evt_test_<random>``, and answers the status, the latency and an
escaped excerpt of the response (``delivery.response_excerpt``).

Rules: at most :data:`PER_MINUTE` test sends per endpoint per minute on this replica
(429 + Retry-After beyond: a test send is a request to a customer's server on its
behalf, so it is throttled per target, not per token); the name is looked up with
the API's resolver and **any** refusal — a non-public address, or a name that does not
resolve — answers the same "not a public address", so a test send cannot be used to
learn which internal names exist; the guard checks every address again at connect.
Invariant: nothing of a secret (signing secret, secret headers, the URL's path) is in
an answer; the test send is not logged with its URL.
"""

# no ``from __future__ import annotations``: FastAPI reads the route function's annotations
import asyncio
import math
import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import ValidationError

from kafkahooks.api.auth import Scope, fresh, json_body
from kafkahooks.api.context import ApiContext
from kafkahooks.api.endpoints import endpoint_of_tenant
from kafkahooks.api.errors import (
    ApiError,
    ErrorBodyResponses,
    JsonAnswer,
    invalid,
    validation_errors,
)
from kafkahooks.api.models import TestSend, TestSent
from kafkahooks.delivery import (
    DeliveryError,
    NoSampleError,
    TargetRefused,
    TargetRefusedError,
    destination,
    refuse,
    response_excerpt,
    sample_request,
    send_once,
    tenant_routes,
)

__all__ = ["NOT_PUBLIC", "PER_MINUTE", "send_test", "test_router"]

PER_MINUTE = 10
NOT_PUBLIC = "not a public address"
LOOKUP_TIMEOUT = 2.0


async def _refused(ctx: ApiContext, url: str) -> bool:
    """Whether the target's name does not resolve, or resolves to any non-public address
    (both answer the same: :data:`NOT_PUBLIC`)."""
    if ctx.allow_local:
        return False
    target = destination(url)
    if target.ip is not None:
        return False  # a literal: the client's guard judges it before connecting
    try:
        answers = await asyncio.wait_for(ctx.resolver.resolve(target.host), LOOKUP_TIMEOUT)
        refuse(target.host, [address for _, address in answers])
    except (OSError, TimeoutError, UnicodeError):  # TargetRefused is an OSError
        return True
    return False


def _result(sample: Any, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": sample.event_id,
        "event_type": None if sample.event_type is None else str(sample.event_type),
        "route": sample.route,
        "status": None,
        "latency_ms": None,
        "response_excerpt": None,
        "error": None,
        **fields,
    }


async def send_test(
    ctx: ApiContext, tenant: str, endpoint_id: str, event_type: str | None
) -> dict[str, Any]:
    """Send the tenant's endpoint one signed sample event; what happened, as JSON data:
    ``event_id`` (``evt_test_…``), ``event_type``, ``route``, ``status`` (null: no
    answer), ``latency_ms``, ``response_excerpt``, ``error`` (null: a 2xx answer).
    Raises ``ApiError``: 404 not the tenant's, 422 no route or sample, 429 too many."""
    ep = endpoint_of_tenant(ctx, tenant, endpoint_id)
    routes = tenant_routes(ctx.routes.routes, ep)
    if not routes:
        raise ApiError(422, "no_route", "no route delivers to this endpoint (its routes: filter)")
    try:
        sample = sample_request(
            routes[0], ep, ctx.allow_local, event_type=event_type,
            event_id=f"evt_test_{secrets.token_hex(12)}", now=ctx.clock(),
        )  # fmt: skip
    except NoSampleError as exc:
        known = f"; there are samples of {', '.join(exc.types)}" if exc.types else ""
        raise invalid(
            "event_type", f"no sample event of this type for route {exc.route}{known}"
        ) from None
    except DeliveryError as exc:  # e.g. no signing secret valid now
        raise ApiError(422, "not_sendable", exc.reason) from None
    wait = ctx.test_sends.take(ep.id)  # counted once sendable: a 422 costs nothing
    if wait > 0:
        raise ApiError(
            429, "rate_limited", f"at most {PER_MINUTE} test sends per endpoint per minute",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )  # fmt: skip
    if await _refused(ctx, ep.url):
        return _result(sample, error=NOT_PUBLIC)
    try:
        sent = await send_once(sample.request, ctx.resolver)
    except (TargetRefusedError, TargetRefused):
        return _result(sample, error=NOT_PUBLIC)
    except DeliveryError as exc:
        return _result(sample, error=exc.reason)
    ok = 200 <= sent.status < 300
    return _result(
        sample, status=sent.status, latency_ms=round(sent.seconds * 1000, 2),
        response_excerpt=response_excerpt(sent.body) if sent.body else "",
        error=None if ok else f"HTTP {sent.status}",
    )  # fmt: skip


def test_router(scope_of: Callable[..., Scope], *, in_schema: bool = True) -> APIRouter:
    """``POST …/endpoints/{id}/test``, with ``scope_of`` deciding the tenant."""
    router = APIRouter(tags=["endpoints"], include_in_schema=in_schema,
                       responses=ErrorBodyResponses)  # fmt: skip

    @router.post(
        "/endpoints/{endpoint_id}/test", response_model=TestSent,
        summary=f"Send one signed sample event now (at most {PER_MINUTE} a minute)",
        dependencies=[Depends(fresh)],
        openapi_extra={"requestBody": {"required": False, "content": {"application/json": {
            "schema": TestSend.model_json_schema()}}}},
    )  # fmt: skip
    async def test_send(
        scope: Annotated[Scope, Depends(scope_of)],
        endpoint_id: str,
        body: Annotated[Any, Depends(json_body)],
    ) -> Response:
        try:
            ask = TestSend.model_validate(body if body is not None else {})
        except ValidationError as exc:
            raise validation_errors(exc) from None
        answer = await send_test(scope.context, scope.tenant, endpoint_id, ask.event_type)
        return JsonAnswer(answer)

    return router
