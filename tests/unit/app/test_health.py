"""The operator's port on loopback: /healthz, /readyz and /metrics, with stand-in members."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from kafkahooks.app.health import HealthServer
from kafkahooks.telemetry.metrics import METRICS

STUCK_AFTER = 30.0


@dataclass
class FakeMember:
    """A consumer-group member as the probes see it."""

    joined: bool = False
    last_poll: float = field(default_factory=time.monotonic)
    progress_at: float = field(default_factory=time.monotonic)
    unreachable_since: float | None = None

    def stalled_for(self, now: float) -> float:
        return max(now - self.progress_at, now - self.last_poll)


Get = Callable[[str], Awaitable[tuple[int, str, Any]]]


@asynccontextmanager
async def _serving(
    members: list[FakeMember], problem: Callable[[], str | None] = lambda: None
) -> AsyncIterator[Get]:
    server = HealthServer(
        lambda: members, "127.0.0.1", 0, stuck_after=STUCK_AFTER, problem=problem
    )
    await server.start()
    assert server.port != 0  # the port the OS picked, for the caller to scrape
    try:
        async with aiohttp.ClientSession() as session:

            async def get(path: str) -> tuple[int, str, Any]:
                async with session.get(f"http://127.0.0.1:{server.port}{path}") as response:
                    body = await response.read()
                    ctype = response.headers["content-type"]
                    data = await response.json() if ctype.startswith("application/json") else body
                    return response.status, ctype, data

            yield get
    finally:
        await server.stop()


def _run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_healthz_turns_503_when_a_member_stops_polling() -> None:
    members = [FakeMember(joined=True), FakeMember(joined=True)]

    async def scenario() -> None:
        async with _serving(members) as get:
            assert (await get("/healthz"))[0::2] == (200, {"status": "ok"})
            members[1].last_poll = time.monotonic() - STUCK_AFTER - 1
            assert (await get("/healthz"))[0::2] == (503, {"status": "stuck", "members": 1})
            members[1].last_poll = time.monotonic()  # the loop came back
            assert (await get("/healthz"))[0] == 200

    _run(scenario)


def test_healthz_turns_503_when_a_polling_member_makes_no_progress() -> None:
    """Polling is not enough: records waiting with nothing finishing, starting or running
    for longer than the bound is a stall (an orphaned lane, a lost wake-up)."""
    members = [FakeMember(joined=True)]

    async def scenario() -> None:
        async with _serving(members) as get:
            members[0].progress_at = time.monotonic() - STUCK_AFTER + 5
            assert (await get("/healthz"))[0] == 200  # within the bound
            members[0].progress_at = time.monotonic() - STUCK_AFTER - 1
            assert (await get("/healthz"))[0::2] == (503, {"status": "stuck", "members": 1})

    _run(scenario)


def test_healthz_does_not_depend_on_having_joined() -> None:
    async def scenario() -> None:
        async with _serving([FakeMember(joined=False)]) as get:
            assert (await get("/healthz"))[0] == 200  # joining is slow, not stuck

    _run(scenario)


def test_readyz_is_503_until_every_member_has_joined() -> None:
    members = [FakeMember(joined=True), FakeMember(joined=False)]

    async def scenario() -> None:
        async with _serving(members) as get:
            assert (await get("/readyz"))[0::2] == (503, {"status": "joining", "members": 1})
            members[1].joined = True  # e.g. a surge pod that got no partitions: still ready
            assert (await get("/readyz"))[0::2] == (200, {"status": "ready"})

    _run(scenario)


def test_readyz_says_kafka_is_unreachable_rather_than_joining() -> None:
    """Not ready for a reason the operator can act on: no broker answers, since when."""
    members = [FakeMember(joined=False, unreachable_since=1_700_000_000.0)]

    async def scenario() -> None:
        async with _serving(members) as get:
            status, _, body = await get("/readyz")
            assert (status, body["status"]) == (503, "kafka unreachable")
            assert body["since"] == "2023-11-14T22:13:20+00:00"
            members[0].unreachable_since = None  # a broker answers: back to the group join
            assert (await get("/readyz"))[0::2] == (503, {"status": "joining", "members": 1})

    _run(scenario)


def _sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from a scrape (label order is the client library's business)."""
    for line in text.splitlines():
        found = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
        if found and found[1] == name and dict(re.findall(r'(\w+)="([^"]*)"', found[2])) == labels:
            return float(found[3])
    raise AssertionError(f"{name} {labels} not in the scrape")


def test_metrics_are_served_as_prometheus_text() -> None:
    route = f"health-{uuid.uuid4().hex[:6]}"  # METRICS is process-wide: a label of our own
    METRICS.deliveries.labels(route=route, outcome="delivered").inc(3)
    METRICS.attempts.labels(route=route, status="5xx").inc()

    async def scenario() -> None:
        async with _serving([]) as get:
            status, ctype, body = await get("/metrics")
            assert status == 200
            assert ctype.startswith("text/plain")  # the Prometheus text format
            text = body.decode()
            assert "# TYPE kafkahooks_deliveries_total counter" in text
            delivered = _sample(
                text, "kafkahooks_deliveries_total", route=route, outcome="delivered"
            )
            assert delivered == 3
            assert _sample(text, "kafkahooks_attempts_total", route=route, status="5xx") == 1
            assert "# TYPE kafkahooks_attempt_seconds histogram" in text

    _run(scenario)


def test_readyz_is_not_ready_before_any_member_exists() -> None:
    async def scenario() -> None:
        async with _serving([]) as get:
            assert (await get("/readyz"))[0::2] == (503, {"status": "starting", "members": 0})

    _run(scenario)


@pytest.mark.parametrize("path", ["/", "/metrics/x"])
def test_unknown_paths_are_404(path: str) -> None:
    async def scenario() -> None:
        async with _serving([]) as get:
            assert (await get(path))[0] == 404

    _run(scenario)


def test_readyz_names_an_endpoint_store_it_cannot_read() -> None:
    """A record under a key id the config lacks, applied while running: not ready, why."""
    members = [FakeMember(joined=True)]
    problems: list[str] = []

    async def scenario() -> None:
        async with _serving(members, lambda: problems[0] if problems else None) as get:
            assert (await get("/readyz"))[0::2] == (200, {"status": "ready"})
            problems.append("endpoint store records are encrypted under key ids missing ...")
            status, _, body = await get("/readyz")
            assert (status, body["status"]) == (503, "not ready")
            assert body["reason"].startswith("endpoint store records")

    _run(scenario)
