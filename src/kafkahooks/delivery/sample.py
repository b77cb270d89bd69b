"""One sample delivery to a customer endpoint: what ``endpoints test`` and the API's test send do.

:func:`sample_request` builds the request a route with ``endpoints:`` would send the
endpoint for a sample event — the route's template, the endpoint's headers and
signature (every valid secret), the route's transport policy — exactly as the
deliverer builds one (``EndpointTargets.request``), with a ``webhook-id`` of
the caller's choosing (the API's ``evt_test_…``, so a receiver can tell a test from an
event).  :func:`send_once` sends it with the real HTTP client (``http1.py``): the
transport guard checks every address it connects to, through the given resolver.

Shared by ``cli/endpoints.py`` and ``api/testsend.py`` (the CLI may not be imported by
the API, and neither should hold a copy of the other's path).
Invariant: nothing here prints or returns a secret; a refusal by the guard is a
:class:`TargetRefusedError` (a ``DeliveryError``) the caller words as it must.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kafkahooks.delivery.dns import Resolver
from kafkahooks.delivery.errors import TargetRefusedError
from kafkahooks.delivery.guard import TargetRefused
from kafkahooks.delivery.request import OutboundRequest

if TYPE_CHECKING:
    from kafkahooks.config import RouteConfig
    from kafkahooks.delivery.route import Route
    from kafkahooks.endpoints import Endpoint
    from kafkahooks.event import Event

__all__ = [
    "NoSampleError",
    "SampleRequest",
    "SampleResult",
    "sample_event",
    "sample_request",
    "send_once",
    "tenant_routes",
]


class NoSampleError(ValueError):
    """No built-in sample event of the wanted type (``types``: the ones there are)."""

    def __init__(self, route: str, event_type: str | None, types: list[str]) -> None:
        wanted = f"of type {event_type!r}" if event_type else "that this route takes"
        super().__init__(f"route {route}: no built-in sample event {wanted}")
        self.route, self.event_type, self.types = route, event_type, types


@dataclass(frozen=True, slots=True)
class SampleRequest:
    request: OutboundRequest
    route: str
    event_type: Any
    event_id: str


@dataclass(frozen=True, slots=True)
class SampleResult:
    status: int
    body: bytes
    seconds: float


def tenant_routes(
    routes: list[RouteConfig], ep: Endpoint, name: str | None = None
) -> list[RouteConfig]:
    """The routes that deliver to ``ep`` (``endpoints:`` routes it subscribes to), or
    only the one called ``name``."""
    return [
        r for r in routes
        if r.endpoints is not None and (ep.routes is None or r.name in ep.routes)
        and (name is None or r.name == name)
    ]  # fmt: skip


def sample_event(route: Route, event_type: str | None) -> Event:
    """The first built-in sample of ``event_type`` the route takes (without a type: the
    first sample it takes); raises :class:`NoSampleError`."""
    from kafkahooks.samples import sample_events

    samples = sample_events(route.config.topics[0])
    for _, event in samples:
        taken, etype = route.match(event)
        if (event_type is None and taken) or (event_type is not None and etype == event_type):
            return event
    types = sorted({str(t) for t in (route.match(e)[1] for _, e in samples) if t is not None})
    raise NoSampleError(route.name, event_type, types)


def sample_request(
    config_route: RouteConfig,
    ep: Endpoint,
    allow_local: bool,
    *,
    event_type: str | None = None,
    event: Event | None = None,
    event_id: str | None = None,
    now: float | None = None,
) -> SampleRequest:
    """The signed request ``config_route`` sends ``ep`` for ``event`` (default: the
    built-in sample of ``event_type``, else of the endpoint's first type).  ``event_id``
    replaces the event's id (its ``webhook-id``, and wherever the template shows it).
    Raises :class:`NoSampleError`, or ``PermanentDeliveryError`` (no valid secret)."""
    from kafkahooks.delivery.route import compile_route
    from kafkahooks.endpoints import MemoryDirectory

    route = compile_route(config_route, allow_local, directory=MemoryDirectory([ep]))
    if event_type is None and "*" not in ep.event_types:
        event_type = ep.event_types[0]
    if event is None:
        event = sample_event(route, event_type)
    _, etype = route.match(event)
    now = time.time() if now is None else now
    ctx = route.context(event, etype)
    if event_id is not None:
        ctx.event_id = event_id
    ctx.sent_at = now
    ctx.endpoint_id = ep.id
    assert route.targets is not None, "an endpoints: route has targets"
    ctx.payload_version = route.targets.version(ep)
    request = route.targets.request(ep, ctx, route.render_body(ctx), now)
    return SampleRequest(request, route.name, etype, ctx.event_id)


async def send_once(request: OutboundRequest, resolver: Resolver | None = None) -> SampleResult:
    """Send ``request`` with the real client (a fresh one, closed after); raises
    ``DeliveryError`` (:class:`TargetRefusedError` when the guard refused the target)."""
    from kafkahooks.delivery.guard import check_url
    from kafkahooks.delivery.http1 import Http1Sender

    try:
        check_url(request.url, request.policy)  # the sender checks too; this names it
    except TargetRefused as exc:
        raise TargetRefusedError(str(exc)) from None
    sender = Http1Sender(max_connections=2, resolver=resolver)
    started = time.monotonic()
    try:
        response = await sender.send(request)
    finally:
        await sender.aclose()
    return SampleResult(response.status, response.body, time.monotonic() - started)
