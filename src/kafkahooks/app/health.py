"""The operator's HTTP port: ``/metrics`` (Prometheus), ``/healthz``, ``/readyz``.

``/healthz`` sees real stalls, not outages: it is 503 when a member has had
records waiting and, for longer than the stall bound (by default
max(2 x ``SHUTDOWN_TIMEOUT``, 60 s)), no event finished, no attempt started
and no delivery was under way, or when its loop has not polled for that long.
Waiting on a receiver (an attempt within its timeout, a backoff, an open
circuit) is progress, so an outage of any length keeps it at 200; the age of
the oldest unfinished event per partition is a metric to alert on instead.

``/readyz`` says why it is not ready: ``kafka unreachable`` (no broker answers, with
``since``), ``joining`` (waiting for the group's first assignment), ``starting``, or
``not ready`` with a reason (the endpoint store holds records under a key id the
configuration lacks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kafkahooks.telemetry import METRICS

__all__ = ["HealthServer", "Probe"]


class Probe(Protocol):
    """What the endpoints ask of each consumer-group member."""

    @property
    def last_poll(self) -> float: ...

    @property
    def joined(self) -> bool: ...

    @property
    def unreachable_since(self) -> float | None:
        """Unix time since when no Kafka broker answers, or ``None``."""
        ...

    def stalled_for(self, now: float) -> float:
        """Seconds without progress while records wait, or without a poll."""
        ...


class HealthServer:
    def __init__(
        self,
        members: Callable[[], Sequence[Probe]],
        host: str,
        port: int,
        stuck_after: float,
        problem: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._members = members
        self._problem = problem
        self._host, self._port = host, port
        self._stuck_after = stuck_after
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(METRICS.registry)
        return web.Response(body=body, headers={"content-type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        now = time.monotonic()
        stuck = [m for m in self._members() if m.stalled_for(now) > self._stuck_after]
        if stuck:
            return web.json_response({"status": "stuck", "members": len(stuck)}, status=503)
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        # A member without partitions is still ready: surge pods must not stall rollouts.
        problem = self._problem()  # e.g. the endpoint store holds records it cannot read
        if problem is not None:
            return web.json_response({"status": "not ready", "reason": problem}, status=503)
        members = self._members()
        if not members:  # nothing consumes yet
            return web.json_response({"status": "starting", "members": 0}, status=503)
        down = [m.unreachable_since for m in members if m.unreachable_since is not None]
        if down:
            since = datetime.fromtimestamp(min(down), UTC).isoformat(timespec="seconds")
            body = {"status": "kafka unreachable", "since": since, "members": len(down)}
            return web.json_response(body, status=503)
        waiting = [m for m in members if not m.joined]
        if waiting:
            return web.json_response({"status": "joining", "members": len(waiting)}, status=503)
        return web.json_response({"status": "ready"})
