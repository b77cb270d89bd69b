"""``GET /v1/event-types``: what a customer can subscribe to, with a sample payload each.

Built once at start from the routes file: every active route that delivers to customer
endpoints (``endpoints:``), and for each event type it takes, one of the built-in sample
events (``kafkahooks.samples``, the ones ``kafkahooks render`` uses) rendered through
the route's own template, as the body a customer's endpoint would receive.  A route
that takes named types without a built-in sample lists them with ``sample: null``.
Invariant: rendering uses no endpoint and no secret (the payload is the body only).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from kafkahooks.api.auth import principal
from kafkahooks.api.context import context
from kafkahooks.api.errors import ErrorBodyResponses, JsonAnswer
from kafkahooks.api.models import EventType
from kafkahooks.config import RoutesFile

__all__ = ["build_catalogue", "catalogue_router"]

log = logging.getLogger("kafkahooks.api")


def _rendered(route: Any, event: Any, event_type: Any) -> Any:
    ctx = route.context(event, event_type)
    ctx.sent_at = time.time()
    ctx.endpoint_id = "ep_sample"
    body = route.render_body(ctx)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")


def build_catalogue(config: RoutesFile) -> list[dict[str, Any]]:
    """Every (type, route) a customer endpoint can receive, with a rendered sample."""
    from kafkahooks.delivery import compile_route
    from kafkahooks.endpoints import MemoryDirectory
    from kafkahooks.samples import sample_events

    entries: list[dict[str, Any]] = []
    for config_route in config.routes:
        if config_route.endpoints is None or not config_route.active:
            continue
        route = compile_route(config_route, False, directory=MemoryDirectory())
        seen: dict[str, Any] = {}
        for _, event in sample_events(config_route.topics[0]):
            taken, etype = route.match(event)
            if not taken or etype is None or str(etype) in seen:
                continue
            try:
                seen[str(etype)] = _rendered(route, event, etype)
            except Exception as exc:  # a template the sample does not fit: listed without
                log.warning("sample not rendered", extra={"route": route.name,
                                                          "error": type(exc).__name__})  # fmt: skip
                seen[str(etype)] = None
        for name in config_route.events:
            if name != "*":
                seen.setdefault(name, None)
        entries += [
            {"type": etype, "route": route.name, "description": config_route.description,
             "sample": sample}
            for etype, sample in sorted(seen.items())
        ]  # fmt: skip
    return entries


def catalogue_router() -> APIRouter:
    router = APIRouter(tags=["event types"], responses=ErrorBodyResponses)

    @router.get("/v1/event-types", response_model=list[EventType],
                summary="The event types endpoints can subscribe to, with sample payloads",
                dependencies=[Depends(principal)])  # fmt: skip
    async def event_types(request: Request) -> Response:
        return JsonAnswer(context(request).catalogue)

    return router
