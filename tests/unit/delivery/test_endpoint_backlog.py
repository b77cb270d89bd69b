"""A customer endpoint that cannot take an event now gets no attempt: the event is parked
at once (issue 16), so waiting for one customer never holds a place in the window."""

from __future__ import annotations

import asyncio
import json
import time

from kafkahooks.config import CircuitBreakerConfig
from kafkahooks.delivery.deliverer import Deliverer
from kafkahooks.delivery.errors import EndpointBackloggedError
from kafkahooks.delivery.gates import MAX_RATE_WAIT, CircuitBreaker
from kafkahooks.delivery.retry import DeliveryReport
from kafkahooks.delivery.route import Route, RouteTable
from kafkahooks.endpoints import MemoryDirectory
from kafkahooks.engine.settle import Outcome, outcome, park_tier
from tests.support.tenants import endpoint, event, tenant_route
from tests.unit.delivery.test_tenant_delivery import Scripted

BREAKING = {
    "retry": {"max_attempts": 5, "initial_backoff": 30, "max_backoff": 30, "jitter": 0},
    "circuit_breaker": {"failures": 1, "probe_after": 60},
}


def _setup(
    directory: MemoryDirectory, sender: Scripted, **options: object
) -> tuple[Route, Deliverer]:
    route = RouteTable([tenant_route(**options)], directory=directory).routes[0]
    return route, Deliverer(sender, 10)  # type: ignore[arg-type]


async def _deliver(route: Route, deliverer: Deliverer, endpoint_id: str = "ep_1") -> DeliveryReport:
    view = event(b'{"id": 1, "event": "call.ended", "account": "acme"}')
    view.value = json.loads(view.raw_value or b"")
    ctx = route.context(view, "call.ended")
    ctx.endpoint_id = endpoint_id
    return await deliverer.deliver(route, ctx)


def test_an_open_circuit_parks_the_event_without_sending_or_using_a_tier() -> None:
    directory = MemoryDirectory([endpoint("ep_1")])
    sender = Scripted(503, 503, 503)
    route, deliverer = _setup(directory, sender, **BREAKING)

    async def run() -> tuple[DeliveryReport, DeliveryReport, float]:
        started = time.monotonic()
        first = await _deliver(route, deliverer)  # its failure opens the circuit
        took = time.monotonic() - started
        second = await _deliver(route, deliverer)
        return first, second, took

    first, second, took = asyncio.run(run())
    # the 30 s backoff ended when the circuit opened; the next attempt found it open
    assert took < 5
    assert isinstance(first.error, EndpointBackloggedError) and first.attempts == 1
    assert isinstance(second.error, EndpointBackloggedError) and second.attempts == 0
    assert second.error.reason == "circuit-open"
    assert len(sender.sent) == 1  # one request in all
    assert outcome(route, second, 0, 1, parks=True) is Outcome.PARKED
    assert park_tier(second, 0) == 1 and park_tier(second, 3) == 3  # no tier used up
    assert outcome(route, second, 7, 1, parks=True) is Outcome.PARKED  # whatever tiers are left


def test_another_endpoint_of_the_same_origin_keeps_its_closed_circuit() -> None:
    directory = MemoryDirectory([endpoint("ep_1"), endpoint("ep_2", tenant="globex")])
    sender = Scripted(503)
    route, deliverer = _setup(directory, sender, **BREAKING)

    async def run() -> DeliveryReport:
        await _deliver(route, deliverer, "ep_1")
        return await _deliver(route, deliverer, "ep_2")

    assert asyncio.run(run()).delivered


def test_an_endpoint_rate_limit_that_would_hold_an_event_too_long_parks_it() -> None:
    slow = endpoint("ep_1", rate_limit=4.0)  # one request every 0.25 s
    sender = Scripted()
    route, deliverer = _setup(MemoryDirectory([slow]), sender)

    async def run() -> list[DeliveryReport]:
        return await asyncio.gather(*(_deliver(route, deliverer) for _ in range(8)))

    reports = asyncio.run(asyncio.wait_for(run(), 5))
    delivered = [r for r in reports if r.delivered]
    parked = [r for r in reports if isinstance(r.error, EndpointBackloggedError)]
    # waits of 0, 0.25, ... 1.0 s are taken; a longer one is not
    assert len(delivered) == int(MAX_RATE_WAIT * 4) + 1 and len(parked) == 3
    assert {r.error.reason for r in parked if r.error is not None} == {"rate-limited"}


def test_without_retry_topics_an_open_circuit_makes_events_wait_as_before() -> None:
    directory = MemoryDirectory([endpoint("ep_1")])
    sender = Scripted(503, 200)
    fast = {"retry": {"max_attempts": 2, "initial_backoff": 0.01, "jitter": 0}}
    breaker = {"circuit_breaker": {"failures": 1, "probe_after": 0.05}}
    route, deliverer = _setup(directory, sender, retry_topics=None, **fast, **breaker)
    report = asyncio.run(_deliver(route, deliverer))
    assert report.delivered and len(sender.sent) == 2  # the probe went out


def test_a_breaker_reports_blocked_until_its_probe_is_due() -> None:
    async def run() -> None:
        breaker = CircuitBreaker("x", CircuitBreakerConfig(failures=1, probe_after=0.05))
        now = time.monotonic()
        assert not breaker.blocked(now)
        breaker.record(False, probe=False)
        assert breaker.blocked(time.monotonic())
        assert not breaker.blocked(time.monotonic() + 0.1)  # a probe may go
        await breaker.sleep_unless_opened(10)  # open already: no sleep

    asyncio.run(asyncio.wait_for(run(), 2))
