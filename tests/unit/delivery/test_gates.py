"""Per-endpoint gate: circuit breaker, rate limiter, concurrency limit (asyncio, no network)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from kafkahooks.config.models import RouteConfig
from kafkahooks.config.throughput import CircuitBreakerConfig, EndpointLimits
from kafkahooks.delivery import gates as endpoints
from kafkahooks.delivery.deliverer import Deliverer
from kafkahooks.delivery.gates import CircuitBreaker, EndpointGate, RateLimiter, origin_of
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.route import compile_route
from kafkahooks.delivery.sender import Response
from kafkahooks.event import Event

ORIGIN = "https://hooks.example.com"
NO_BREAKER = CircuitBreakerConfig(enabled=False)


def breaker(failures: int = 3, probe_after: float = 10.0) -> CircuitBreaker:
    return CircuitBreaker(ORIGIN, CircuitBreakerConfig(failures=failures, probe_after=probe_after))


def state(cb: CircuitBreaker | None) -> str:
    """Read afresh each time (a plain attribute read would be narrowed by mypy)."""
    assert cb is not None
    return cb.state


async def admitted_within(cb: CircuitBreaker, seconds: float) -> bool | None:
    """What ``admit`` answered, or ``None`` if it was still waiting after ``seconds``."""
    try:
        return await asyncio.wait_for(cb.admit(), seconds)
    except TimeoutError:
        return None


def test_origin_is_scheme_host_and_port() -> None:
    assert origin_of("https://hooks.example.com:8443/a/b?c=1") == "https://hooks.example.com:8443"
    assert origin_of("http://hooks.example.com/x") == "http://hooks.example.com"


def test_breaker_opens_only_after_failures_in_a_row() -> None:
    async def scenario() -> None:
        cb = breaker(failures=3)
        for ok in (False, False, True, False, False):
            cb.record(ok, probe=False)
        assert state(cb) == "closed"
        assert await admitted_within(cb, 0.1) is False  # a normal request, not a probe
        cb.record(False, probe=False)
        assert state(cb) == "open" and cb.opened == 1
        assert await admitted_within(cb, 0.05) is None  # open: requests wait

    asyncio.run(scenario())


def test_open_breaker_lets_one_probe_through_and_closes_on_its_success() -> None:
    async def scenario() -> None:
        cb = breaker(failures=1, probe_after=0.05)
        cb.record(False, probe=False)
        waiters = [asyncio.ensure_future(cb.admit()) for _ in range(3)]
        done, _ = await asyncio.wait(waiters, timeout=2, return_when=asyncio.FIRST_COMPLETED)
        assert [t.result() for t in done] == [True]  # exactly one probe
        assert state(cb) == "half-open"
        await asyncio.sleep(0.1)  # the probe is out: the others keep waiting
        assert sum(t.done() for t in waiters) == 1
        cb.record(True, probe=True)
        results = await asyncio.wait_for(asyncio.gather(*waiters), 2)
        assert sorted(results) == [False, False, True]
        assert state(cb) == "closed" and cb.failures == 0

    asyncio.run(scenario())


def test_failed_probe_reopens_for_another_probe_interval() -> None:
    async def scenario() -> None:
        cb = breaker(failures=1, probe_after=0.2)
        cb.record(False, probe=False)
        assert await admitted_within(cb, 2) is True
        cb.record(False, probe=True)
        assert state(cb) == "open"
        assert await admitted_within(cb, 0.05) is None  # not before probe_after again
        assert await admitted_within(cb, 2) is True  # then the next probe
        assert cb.opened == 1  # one outage, however many probes

    asyncio.run(scenario())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_rate_limiter_spaces_requests_evenly_without_bursting_after_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(endpoints, "time", SimpleNamespace(monotonic=clock.monotonic))
    monkeypatch.setattr(endpoints, "asyncio", SimpleNamespace(sleep=clock.sleep))
    limiter = RateLimiter(10)

    async def send_times(n: int) -> list[float]:
        times = []
        for _ in range(n):
            await limiter.wait()
            times.append(round(clock.now - 1000, 6))
        return times

    assert asyncio.run(send_times(4)) == [0.0, 0.1, 0.2, 0.3]
    clock.now += 5  # idle: no credit piles up
    assert asyncio.run(send_times(3)) == [5.3, 5.4, 5.5]


def test_gate_holds_at_most_concurrency_requests_at_once() -> None:
    async def scenario() -> int:
        gate = EndpointGate(ORIGIN, EndpointLimits(concurrency=2), NO_BREAKER)
        now = peak = 0

        async def request() -> None:
            nonlocal now, peak
            async with gate.slot() as probe:
                assert probe is False
                now += 1
                peak = max(peak, now)
                await asyncio.sleep(0.01)
                now -= 1

        await asyncio.gather(*(request() for _ in range(6)))
        return peak

    assert asyncio.run(scenario()) == 2


def test_gate_without_breaker_never_waits_for_failures() -> None:
    async def scenario() -> None:
        gate = EndpointGate(ORIGIN, EndpointLimits(), NO_BREAKER)
        assert gate.breaker is None
        for _ in range(50):
            gate.record(False, probe=False)
        async with gate.slot() as probe:
            assert probe is False

    asyncio.run(asyncio.wait_for(scenario(), 2))


def test_a_probe_that_never_answers_reopens_the_breaker() -> None:
    async def scenario() -> None:
        gate = EndpointGate(ORIGIN, EndpointLimits(), CircuitBreakerConfig(failures=1,
                                                                           probe_after=0.01))
        gate.record(False, probe=False)
        with pytest.raises(asyncio.CancelledError):
            async with gate.slot() as probe:
                assert probe is True
                raise asyncio.CancelledError  # e.g. the partition was revoked
        assert state(gate.breaker) == "open"

    asyncio.run(asyncio.wait_for(scenario(), 2))


# -- the gate inside the deliverer ----------------------------------------------

class AlwaysUnavailable:
    def __init__(self) -> None:
        self.sent: list[OutboundRequest] = []

    async def send(self, request: OutboundRequest) -> Response:
        self.sent.append(request)
        return Response(503)

    async def aclose(self) -> None:
        pass


def route(url: str, **options: Any) -> Any:
    return compile_route(RouteConfig.model_validate({
        "name": "r", "topics": ["t"], "template": {"id": "{{ value.id }}"},
        "endpoint": {"url": url},
        "retry": {"max_attempts": 3, "initial_backoff": 0.001, "jitter": 0},
        **options,
    }))


def test_routes_to_one_origin_share_one_gate() -> None:
    deliverer = Deliverer(AlwaysUnavailable(), max_in_flight=10)
    a = route(f"{ORIGIN}/a", limits={"concurrency": 3})
    b = route(f"{ORIGIN}/b")
    other = route("https://other.example.com/a")
    assert deliverer.gate(a) is deliverer.gate(b)
    assert deliverer.gate(other) is not deliverer.gate(a)


def test_while_the_breaker_is_open_events_wait_without_spending_attempts() -> None:
    async def scenario() -> None:
        sender = AlwaysUnavailable()
        deliverer = Deliverer(sender, max_in_flight=10)
        r = route(f"{ORIGIN}/a", circuit_breaker={"failures": 2, "probe_after": 60})
        events = [Event("t", 0, i, 0, b"k", b"{}", value={"id": i}) for i in range(5)]
        tasks = [asyncio.ensure_future(deliverer.deliver(r, r.context(e, None))) for e in events]
        await asyncio.sleep(0.3)  # long enough for every retry that backoff allows
        assert not any(t.done() for t in tasks)  # nobody ran out of attempts
        # two failures opened it; no event's retry (and no later first attempt) was sent
        assert len(sender.sent) == 2
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(scenario())
