"""One customer endpoint holds at most ``endpoints.endpoint_queue`` deliveries in the
process; the next are parked at once, and a drain leaves no count behind."""

from __future__ import annotations

import asyncio
import json

from kafkahooks.delivery.errors import EndpointBackloggedError
from kafkahooks.delivery.gates import Gates
from kafkahooks.delivery.retry import DeliveryReport
from kafkahooks.delivery.route import Route, RouteTable
from kafkahooks.endpoints import MemoryDirectory
from kafkahooks.engine.dispatch import Dispatch
from kafkahooks.engine.scheduler import Scheduler
from kafkahooks.templating import RenderContext
from tests.support.tenants import endpoint, event, tenant_route

TP = ("t", 0)


class Held:
    """A deliverer whose deliveries wait until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0
        self.gates = Gates()

    async def deliver(self, route: Route, ctx: RenderContext) -> DeliveryReport:
        self.started += 1
        await self.release.wait()
        return DeliveryReport(1, 200)


class Settled:
    def __init__(self) -> None:
        self.reports: list[tuple[str | None, DeliveryReport]] = []

    async def settle(
        self, route: Route, ctxs: list[RenderContext], report: DeliveryReport, *args: object
    ) -> None:
        self.reports.append((ctxs[0].endpoint_id, report))


def _ctx(route: Route, n: int, endpoint_id: str) -> RenderContext:
    view = event(json.dumps({"id": n, "event": "e", "account": "acme"}).encode(), offset=n)
    view.value = json.loads(view.raw_value or b"")
    ctx = route.context(view, "e")
    ctx.endpoint_id = endpoint_id
    return ctx


def _dispatch(**options: object) -> tuple[Route, Dispatch, Held, Settled]:
    directory = MemoryDirectory([endpoint("ep_1"), endpoint("ep_2")])
    route = RouteTable(
        [tenant_route(endpoints={"tenant": "value.account", "endpoint_queue": 3}, **options)],
        directory=directory,
    ).routes[0]
    held, settled = Held(), Settled()
    scheduler = Scheduler(on_error=lambda exc: None)
    return route, Dispatch(held, scheduler, settled), held, settled  # type: ignore[arg-type]


def test_beyond_its_queue_an_endpoints_events_are_parked_at_once_and_others_flow() -> None:
    async def run() -> None:
        route, dispatch, held, settled = _dispatch(ordering="none")
        for n in range(5):
            dispatch.submit(TP, route, _ctx(route, n, "ep_1"))
        dispatch.submit(TP, route, _ctx(route, 9, "ep_2"))
        await asyncio.sleep(0.01)
        parked = [r for _, r in settled.reports if isinstance(r.error, EndpointBackloggedError)]
        assert len(parked) == 2 and parked[0].error is not None
        assert parked[0].error.reason == "endpoint-queue-full"
        assert dispatch.held("ep_1") == 3 and dispatch.held("ep_2") == 1
        held.release.set()
        await asyncio.sleep(0.01)
        assert dispatch.held("ep_1") == 0 and dispatch.held("ep_2") == 0
        assert sum(r.delivered for _, r in settled.reports) == 4

    asyncio.run(asyncio.wait_for(run(), 5))


def test_a_drain_that_cancels_jobs_before_they_ran_leaves_no_count() -> None:
    async def run() -> None:
        route, dispatch, _, _ = _dispatch(ordering="key")  # one lane: two jobs never start
        for n in range(3):
            dispatch.submit(TP, route, _ctx(route, n, "ep_1"))
        await asyncio.sleep(0.01)
        assert dispatch.held("ep_1") == 3
        await dispatch.scheduler.cancel([TP])
        dispatch.forget([TP])
        assert dispatch.held("ep_1") == 0

    asyncio.run(asyncio.wait_for(run(), 5))


def test_a_route_that_cannot_park_never_refuses_for_a_full_queue() -> None:
    async def run() -> None:
        route, dispatch, held, settled = _dispatch(ordering="none", retry_topics=None)
        for n in range(5):
            dispatch.submit(TP, route, _ctx(route, n, "ep_1"))
        await asyncio.sleep(0.01)
        assert held.started == 5 and settled.reports == []
        held.release.set()

    asyncio.run(asyncio.wait_for(run(), 5))


def test_an_event_arriving_while_its_endpoints_circuit_is_open_is_parked_at_once() -> None:
    async def run() -> None:
        route, dispatch, held, settled = _dispatch(ordering="key")
        gate = held.gates.for_endpoint(route, endpoint("ep_1"))
        for _ in range(route.config.circuit_breaker.failures):
            gate.record(False, probe=False)  # the circuit opens
        assert gate.breaker is not None
        dispatch.submit(TP, route, _ctx(route, 1, "ep_1"))
        dispatch.submit(TP, route, _ctx(route, 2, "ep_2"))
        await asyncio.sleep(0.01)
        [(endpoint_id, report)] = settled.reports
        assert endpoint_id == "ep_1" and isinstance(report.error, EndpointBackloggedError)
        assert report.error.reason == "circuit-open" and held.started == 1  # ep_2's
        held.release.set()

    asyncio.run(asyncio.wait_for(run(), 5))
