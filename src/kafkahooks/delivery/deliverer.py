"""Send one event, or one batch, to one route: render, sign, gate, send, retry.

Signing and auth stay pure functions of the body bytes; the HTTP client is
behind the :class:`~kafkahooks.delivery.sender.Sender` interface.  An event
that sleeps in backoff holds nothing but its lane: the global in-flight
slot and the endpoint slot are taken per request, and an OAuth2 token is
fetched before either is taken (a slow token endpoint holds no slot).

A delivery to a customer endpoint (``ctx.endpoint_id`` set, on a route with
``endpoints:``) reads the endpoint from the directory at every attempt: its
current URL, headers, secrets and payload version (``delivery/targets.py``), and
its own gate.  Deleted by then: ``EndpointDeletedError``; disabled (by its tenant,
or by the bridge: ``Endpoint.enabled``): ``EndpointDisabledError``; neither sends
anything, and an attempt already sent finishes as it started.  When the route can park
(retry topics), an endpoint whose gate would make the event wait (circuit open, its
rate limit) gets no attempt: ``EndpointBackloggedError``, and the event is parked at
once; a backoff between attempts ends early when the circuit opens
(``delivery/gates.py``).  Every answered attempt to a customer endpoint is reported to
the endpoint health (``endpoints/health.py``, auto-disable): a dictionary lookup in the
usual case.

Every call ends in a :class:`DeliveryReport`, never an exception (only
cancellation propagates): a body or header the event cannot fill is a
permanent ``template: ...`` error, and anything unexpected is an
:class:`InternalError` for this event or batch, logged with its traceback
and counted in ``kafkahooks_internal_errors_total``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, Protocol

from kafkahooks.delivery.auth import send_authorized
from kafkahooks.delivery.errors import (
    DeliveryError,
    EndpointBackloggedError,
    EndpointDeletedError,
    EndpointDisabledError,
    EndpointGoneError,
    InternalError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    classify_status,
)
from kafkahooks.delivery.failures import FailedAttempts, response_excerpt
from kafkahooks.delivery.gates import EndpointGate, Gates
from kafkahooks.delivery.request import OutboundRequest, encode_json
from kafkahooks.delivery.retry import DeliveryReport, deliver_with_retries
from kafkahooks.delivery.route import Route
from kafkahooks.delivery.sender import Response, Sender
from kafkahooks.endpoints import Endpoint, HealthObserver
from kafkahooks.telemetry import METRICS, route_metrics
from kafkahooks.templating import RenderContext, TemplateError

__all__ = ["AttemptLog", "Deliverer", "batch_id"]

log = logging.getLogger("kafkahooks.deliverer")


def batch_id(event_ids: list[str]) -> str:
    """A batch's own id, derived from its elements (stable across retries)."""
    return "bat_" + hashlib.sha256("\n".join(event_ids).encode()).hexdigest()[:32]


class _Unrendered(PermanentDeliveryError):
    """The event's body or headers could not be made, so no request went out."""


def _rendered(make: Callable[[], bytes]) -> bytes:
    """The body ``make`` renders; what the event's data cannot fill is a permanent
    ``template:`` error (a placeholder, a NaN or a lone surrogate the encoding
    refuses, a timestamp out of range).  Anything else is left to the caller."""
    try:
        return make()
    except (TemplateError, ValueError, OverflowError) as exc:
        raise _Unrendered(f"template: {exc}") from None


def _built(route: Route, ctx: RenderContext, body: bytes, now: float) -> OutboundRequest:
    try:
        return route.build(ctx, body, now)
    except TemplateError as exc:  # a per-event header value it cannot carry
        raise _Unrendered(f"template: {exc}") from None


def _settled(report: DeliveryReport) -> DeliveryReport:
    """``attempts`` counts requests sent: an attempt that could not render sent none,
    nor one that found its endpoint gone or backlogged."""
    error = report.error
    if isinstance(error, _Unrendered):
        return DeliveryReport(
            report.attempts - 1, report.status, PermanentDeliveryError(error.reason)
        )
    if isinstance(error, (EndpointGoneError, EndpointBackloggedError)):
        return DeliveryReport(report.attempts - 1, report.status, error)
    return report


async def _guarded(route: str, run: Callable[[], Awaitable[DeliveryReport]]) -> DeliveryReport:
    """``run()``'s report; an exception it lets through becomes an ``InternalError``
    report.  Internal errors are logged (class and stack frames, not the message,
    which may hold event data or a secret) and counted."""
    try:
        report = _settled(await run())
    except _Unrendered as exc:  # the body, before any attempt
        report = DeliveryReport(0, None, PermanentDeliveryError(exc.reason))
    except DeliveryError as exc:
        report = DeliveryReport(0, exc.status, exc)
    except Exception as exc:  # not BaseException: cancellation must propagate
        error = InternalError(exc)
        error.__cause__ = exc
        report = DeliveryReport(0, None, error)
    if isinstance(report.error, InternalError):
        cause = report.error.__cause__
        frames = "".join(traceback.format_tb(cause.__traceback__)) if cause else ""
        METRICS.internal_errors.labels(route).inc()
        log.error(
            "internal error in a delivery; the event is dead-lettered",
            extra={"route": route, "error_class": report.error.error_class, "traceback": frames},
        )
    return report


def _type_text(event_type: Any) -> str | None:
    """The event type as the delivery log records it: text, or ``None`` when the route
    reads none (a number read at the type's path is recorded as its text)."""
    if event_type is None or isinstance(event_type, str):
        return event_type
    return str(event_type)


class AttemptLog(Protocol):
    """Where every attempt is reported (the delivery-log topic, wired by ``app/``): the
    deliverer knows nothing of Kafka."""

    def record(
        self,
        event_id: str,
        route: str,
        attempt: int,
        status: int | None,
        latency: float,
        error: str | None,
        excerpt: str | None = None,
        endpoint_id: str | None = None,
        event_type: str | None = None,
    ) -> None: ...


class _LastResponse:
    """The response of a delivery's latest attempt (``None`` when it got none), so a
    failed report carries the excerpt of the answer that ended it."""

    __slots__ = ("response",)

    def __init__(self) -> None:
        self.response: Response | None = None

    def excerpted(self, report: DeliveryReport) -> DeliveryReport:
        if report.error is not None and self.response is not None:
            report.excerpt = response_excerpt(self.response.body)
        return report


class _LastTry(_LastResponse):
    """A delivery to a customer endpoint: its latest attempt's response, the gate that
    attempt went through (the backoff's), and the body rendered for one payload version
    (reused by the next attempt unless the template renders per attempt)."""

    __slots__ = ("body", "gate", "version")

    def __init__(self) -> None:
        self.response = None
        self.gate: EndpointGate | None = None
        self.version: str | None = None
        self.body: bytes | None = None


class Deliverer:
    def __init__(
        self,
        sender: Sender,
        max_in_flight: int,
        log: AttemptLog | None = None,
        gates: Gates | None = None,
        failures: FailedAttempts | None = None,
        health: HealthObserver | None = None,
    ) -> None:
        self.sender = sender
        self.health = health  # told every customer endpoint's answer (auto-disable)
        self.log = log
        self.failures = failures if failures is not None else FailedAttempts()
        self.attempts = 0
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self.gates = gates if gates is not None else Gates()  # the process's, when shared

    def gate(self, route: Route) -> EndpointGate:
        return self.gates.for_route(route)

    async def _send(
        self,
        route: Route,
        gate: EndpointGate,
        request: OutboundRequest,
        attempt: int,
        event_type: str | None = None,
    ) -> Response:
        """The route's auth first (a token fetch takes no slot), then the request through
        the gates; after a 401 that refreshes the token, once more."""

        def exchange(req: OutboundRequest) -> Awaitable[Response]:
            return self._exchange(route, gate, req, attempt, None, event_type)

        return await send_authorized(exchange, request, route.auth)

    async def _exchange(
        self,
        route: Route,
        gate: EndpointGate,
        request: OutboundRequest,
        attempt: int,
        target: Endpoint | None = None,
        event_type: str | None = None,
    ) -> Response:
        """``target``: the customer endpoint (the version) this request goes to."""
        metrics = route_metrics(route.name)
        async with gate.slot() as probe, self._in_flight:
            self.attempts += 1
            METRICS.requests_in_flight += 1
            started = time.perf_counter()
            response: Response | None = None
            failure: DeliveryError | None = None
            try:
                response = await self.sender.send(request)
                failure = classify_status(response.status)  # None for 2xx: no allocation
            except RetryableDeliveryError as exc:
                self._record(route, gate, target, False, probe)
                failure = exc
                raise
            finally:
                elapsed = time.perf_counter() - started
                METRICS.requests_in_flight -= 1
                metrics.latency.observe(elapsed)
                status = response.status if response is not None else None
                metrics.attempt(status)
                # the endpoint health hears every answer and every transport failure (an
                # attempt cancelled, or refused before it went out, tells it nothing)
                health = self.health
                answered = response is not None or failure is not None
                if health is not None and target is not None and answered:
                    health.observe(target.id, target.offset, failure is None, status, time.time())
                if failure is not None:  # only a failed attempt pays for the excerpt and log
                    self._attempt_failed(
                        route, request, attempt, response, elapsed, failure, target, event_type
                    )
                elif self.log is not None:
                    event_id = request.headers.get("webhook-id", "")
                    endpoint_id = target.id if target is not None else None
                    self.log.record(
                        event_id,
                        route.name,
                        attempt,
                        status,
                        elapsed,
                        None,
                        endpoint_id=endpoint_id,
                        event_type=event_type,
                    )
            ok = not isinstance(failure, RetryableDeliveryError)
            self._record(route, gate, target, ok, probe)
            return response

    def _record(
        self, route: Route, gate: EndpointGate, target: Endpoint | None, ok: bool, probe: bool
    ) -> None:
        """The gate hears how an attempt ended; a customer endpoint's through ``Gates``,
        which keeps it in the endpoint's own gate (``Gates.to_send``)."""
        if target is None:
            gate.record(ok, probe)
        else:
            self.gates.record(route, target, gate, ok, probe)

    def _attempt_failed(
        self,
        route: Route,
        request: OutboundRequest,
        attempt: int,
        response: Response | None,
        elapsed: float,
        failure: DeliveryError,
        target: Endpoint | None = None,
        event_type: str | None = None,
    ) -> None:
        """Log the failed attempt now (rate-limited per endpoint) and record it, with its
        error and the response's excerpt, in the delivery log."""
        status = response.status if response is not None else None
        excerpt = response_excerpt(response.body) if response is not None else None
        origin = target.origin if target is not None else None
        endpoint_id = target.id if target is not None else None
        self.failures.failed(route, attempt, status, elapsed, failure, origin, endpoint_id)
        if self.log is not None:
            event_id = request.headers.get("webhook-id", "")
            self.log.record(
                event_id,
                route.name,
                attempt,
                status,
                elapsed,
                failure.reason,
                excerpt,
                endpoint_id=endpoint_id,
                event_type=event_type,
            )

    async def deliver(self, route: Route, ctx: RenderContext) -> DeliveryReport:
        if ctx.endpoint_id is not None:
            return await self._deliver_to_endpoint(route, ctx, ctx.endpoint_id)
        if (gone := route.state.short_circuit()) is not None:
            return gone

        async def run() -> DeliveryReport:
            gate = self.gate(route)
            body: bytes | None = None
            if not route.template.per_attempt:
                body = _rendered(lambda: route.render_body(ctx))

            last = _LastResponse()

            async def attempt(number: int) -> tuple[OutboundRequest, Response]:
                ctx.attempt = number
                ctx.sent_at = time.time()
                last.response = None
                data = body if body is not None else _rendered(lambda: route.render_body(ctx))
                request = _built(route, ctx, data, ctx.sent_at)
                last.response = await self._send(
                    route, gate, request, number, _type_text(ctx.event_type)
                )
                return request, last.response

            return last.excerpted(await deliver_with_retries(attempt, route.config.retry))

        return await _guarded(route.name, run)

    async def _deliver_to_endpoint(
        self, route: Route, ctx: RenderContext, endpoint_id: str
    ) -> DeliveryReport:
        """One event to one customer endpoint, read anew at every attempt (module doc).

        The attempts read the route's parts themselves, and what one attempt leaves the
        next is kept in one object (:class:`_LastTry`): every name the closures below
        share is a cell, an object per delivery (10 cells here were ~940 instructions per
        event more, ``bench/tenant_path.py`` under callgrind)."""

        async def run() -> DeliveryReport:
            last = _LastTry()

            async def attempt(number: int) -> tuple[OutboundRequest, Response]:
                directory, targets = route.directory, route.targets
                assert directory is not None and targets is not None, "a route with endpoints:"
                ctx.attempt = number
                ctx.sent_at = now = time.time()
                last.response = None
                endpoint = directory.get(endpoint_id)
                if endpoint is None or not endpoint.enabled:
                    self._gone(route, ctx, endpoint_id, number, endpoint)
                gate = self.gates.to_send(route, endpoint)
                parks = route.config.retry_topics is not None
                if parks and (why := gate.backlog()) is not None:
                    raise EndpointBackloggedError(why)
                last.gate = gate
                ctx.payload_version = version = targets.version(endpoint)
                data = last.body if last.version == version else None
                if data is None:
                    data = _rendered(lambda: route.render_body(ctx))
                    if not route.template.per_attempt:
                        last.version, last.body = version, data
                request = targets.request(endpoint, ctx, data, now)
                last.response = await self._exchange(
                    route, gate, request, number, endpoint, _type_text(ctx.event_type)
                )
                return request, last.response

            async def backoff(delay: float) -> None:
                gate = last.gate
                if gate is None:
                    return await asyncio.sleep(delay)
                # the endpoint's own gate, made if the attempt failed through the shared one
                await self.gates.current(endpoint_id, gate).backoff(delay)

            report = await deliver_with_retries(attempt, route.config.retry, backoff)
            return last.excerpted(report)

        return await _guarded(route.name, run)

    def _gone(
        self,
        route: Route,
        ctx: RenderContext,
        endpoint_id: str,
        attempt: int,
        endpoint: Endpoint | None,
    ) -> NoReturn:
        """The endpoint was deleted or disabled before this attempt: nothing is sent; the
        delivery log records why.  Raises the error that ends the delivery."""
        deleted = endpoint is None
        error: EndpointGoneError
        if endpoint is None:
            error = EndpointDeletedError()
        else:
            # the bridge's reason, unless its tenant turned it off (that is the reason)
            status = endpoint.status if endpoint.active else None
            disabled = status.disabled if status is not None else None
            error = EndpointDisabledError(disabled.detail if disabled is not None else None)
        if deleted:
            self.gates.endpoint_gone(endpoint_id)
        if self.log is not None:
            self.log.record(
                ctx.event_id,
                route.name,
                attempt,
                None,
                0.0,
                error.reason,
                endpoint_id=endpoint_id,
                event_type=_type_text(ctx.event_type),
            )
        raise error

    async def deliver_batch(self, route: Route, ctxs: list[RenderContext]) -> DeliveryReport:
        """One signed JSON array ``[{"id": <event id>, "data": <payload>}, ...]``."""
        if (gone := route.state.short_circuit()) is not None:
            return gone

        async def run() -> DeliveryReport:
            gate = self.gate(route)
            body = _rendered(
                lambda: encode_json(
                    [{"id": c.event_id, "data": route.template.render(c)} for c in ctxs]
                )
            )
            head = RenderContext(
                ctxs[0].event,
                batch_id([c.event_id for c in ctxs]),
                route.name,
                route.config.payload_version,
            )

            last = _LastResponse()

            async def attempt(number: int) -> tuple[OutboundRequest, Response]:
                last.response = None
                request = _built(route, head, body, time.time())
                request.headers["webhook-batch-size"] = str(len(ctxs))
                last.response = await self._send(route, gate, request, number)
                return request, last.response

            return last.excerpted(await deliver_with_retries(attempt, route.config.retry))

        return await _guarded(route.name, run)
