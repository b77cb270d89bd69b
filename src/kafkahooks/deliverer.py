"""Send one event, or one batch, to one route: render, sign, gate, send, retry.

Signing and auth stay pure functions of the body bytes; the HTTP client is
behind the :class:`~kafkahooks.delivery.sender.Sender` interface.  An event
that sleeps in backoff holds nothing but its lane: the global in-flight
slot and the endpoint slot are taken per attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

from kafkahooks.delivery.auth import send_authorized
from kafkahooks.delivery.errors import (
    PermanentDeliveryError,
    RetryableDeliveryError,
    classify_status,
)
from kafkahooks.delivery.request import OutboundRequest, encode_json
from kafkahooks.delivery.retry import DeliveryReport, deliver_with_retries
from kafkahooks.delivery.sender import Response, Sender
from kafkahooks.deliverylog import DeliveryLog
from kafkahooks.endpoints import EndpointGate, Gates
from kafkahooks.metrics import METRICS, route_metrics
from kafkahooks.routing import Route
from kafkahooks.templates import RenderContext, TemplateError

__all__ = ["Deliverer", "batch_id"]


def batch_id(event_ids: list[str]) -> str:
    """A batch's own id, derived from its elements (stable across retries)."""
    return "bat_" + hashlib.sha256("\n".join(event_ids).encode()).hexdigest()[:32]


class Deliverer:
    def __init__(
        self,
        sender: Sender,
        max_in_flight: int,
        log: DeliveryLog | None = None,
        gates: Gates | None = None,
    ) -> None:
        self.sender = sender
        self.log = log
        self.attempts = 0
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self.gates = gates if gates is not None else Gates()  # the process's, when shared

    def gate(self, route: Route) -> EndpointGate:
        return self.gates.for_route(route)

    async def _send(
        self, route: str, gate: EndpointGate, request: OutboundRequest, attempt: int
    ) -> Response:
        metrics = route_metrics(route)
        async with gate.slot() as probe, self._in_flight:
            self.attempts += 1
            METRICS.requests_in_flight += 1
            started = time.perf_counter()
            status: int | None = None
            error: str | None = None
            try:
                response = await send_authorized(self.sender, request)  # 401: once more
                status = response.status
            except RetryableDeliveryError as exc:
                gate.record(False, probe)
                error = exc.reason
                raise
            finally:
                elapsed = time.perf_counter() - started
                METRICS.requests_in_flight -= 1
                metrics.latency.observe(elapsed)
                metrics.attempt(status)
                if self.log is not None:
                    event_id = request.headers.get("webhook-id", "")
                    self.log.record(event_id, route, attempt, status, elapsed, error)
            retryable = isinstance(classify_status(response.status), RetryableDeliveryError)
            gate.record(not retryable, probe)
            return response

    async def deliver(self, route: Route, ctx: RenderContext) -> DeliveryReport:
        if (gone := route.state.short_circuit()) is not None:
            return gone
        gate = self.gate(route)
        body: bytes | None = None
        try:
            if not route.template.per_attempt:
                body = route.render_body(ctx)

            async def attempt(number: int) -> tuple[OutboundRequest, Response]:
                ctx.attempt = number
                ctx.sent_at = time.time()
                data = body if body is not None else route.render_body(ctx)
                request = route.build(ctx, data, ctx.sent_at)
                return request, await self._send(route.name, gate, request, number)

            return await deliver_with_retries(attempt, route.config.retry)
        except (TemplateError, ValueError) as exc:
            return DeliveryReport(ctx.attempt - 1, None, PermanentDeliveryError(f"template: {exc}"))

    async def deliver_batch(self, route: Route, ctxs: list[RenderContext]) -> DeliveryReport:
        """One signed JSON array ``[{"id": <event id>, "data": <payload>}, ...]``."""
        if (gone := route.state.short_circuit()) is not None:
            return gone
        gate = self.gate(route)
        try:
            items = [{"id": c.event_id, "data": route.template.render(c)} for c in ctxs]
            body = encode_json(items)
        except (TemplateError, ValueError) as exc:
            return DeliveryReport(0, None, PermanentDeliveryError(f"template: {exc}"))
        head = RenderContext(
            ctxs[0].event,
            batch_id([c.event_id for c in ctxs]),
            route.name,
            route.config.payload_version,
        )

        async def attempt(number: int) -> tuple[OutboundRequest, Response]:
            now = time.time()
            request = route.build(head, body, now)
            request.headers["webhook-batch-size"] = str(len(ctxs))
            return request, await self._send(route.name, gate, request, number)

        return await deliver_with_retries(attempt, route.config.retry)
