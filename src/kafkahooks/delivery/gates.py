"""Per-endpoint isolation: concurrency limit, rate limit, circuit breaker.

Routes that target the same origin (scheme://host:port) share one gate, so
one slow or failing endpoint cannot take every connection, and while its
breaker is open events wait for a probe instead of burning their retries.
One :class:`Gates` registry serves the whole process (every consumer group),
and the first active route of the routes file naming an origin sets its
limits.  A hot reload that changes an origin's limits gives it a new gate:
requests from then on take its slots, those in flight finish under the old
ones, and an open breaker stays open (its state moves to the new gate).

A customer endpoint (``endpoints:`` routes) has a gate of its own, keyed by its id
(many tenants share origins: one tenant's failures must not open another's
circuit): its ``rate_limit`` if it sets one, else the route's limits.  Such a gate
sets no metric (no label may carry an endpoint id) and is dropped when its
endpoint is gone.  Beyond :data:`IDLE_ENDPOINT_GATES` of them, the least recently
used are dropped while *idle* (nothing in flight or waiting, breaker closed with no
failure, rate limiter with nothing to space): a new gate for that endpoint behaves
exactly as the dropped one would have.  A gate cost ~2.2 KB, and a replica that
sent to each of 100,000 endpoints kept ~220 MB of them (``bench/endpoints.py``).  With
its events made when first needed and ``__slots__`` it costs ~470 B (tracemalloc: a
gate with a breaker, its name and its registry entry).  Its breaker is made at its
first failure (a closed breaker with no failure is what a new one holds), and taking
one for an endpoint not seen lately costs ~2.2 µs, registry and idle look included.
The bound stays 4,096 (~2 MB): a larger one was tried (24,576) and bought nothing in
``bench/endpoints.py``'s tenant row, where a bridge sees each of 19,000 endpoints about
once (19,000 gates created in 20,000 attempts either way), while it would add ~10 MB
to a replica sending to 100,000 endpoints (peak RSS was 286 MB against a 300 MB target).

So an attempt does not make a gate it would not need: an endpoint with no gate and no
limits (no rate limit, and a route without ``limits``) would get one that holds nothing
until a failure, so its attempts share one stateless gate (:meth:`Gates.to_send`), and
the endpoint's own gate is made when an answer has to be kept (:meth:`Gates.record`: a
failure, or a success after one).  The healthy endpoint's attempt then costs a
dictionary miss instead of a gate.

A customer endpoint's gate never makes an event wait long (issue 16): ``backlog``
says when the event should be parked instead of sent (its circuit is open and no
probe is due, or its own rate limit would hold it more than :data:`MAX_RATE_WAIT`),
and ``backoff`` sleeps between in-process attempts only until the circuit opens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from contextlib import suppress
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from kafkahooks.config import CircuitBreakerConfig, EndpointLimits
from kafkahooks.telemetry import CIRCUIT_STATES, METRICS

if TYPE_CHECKING:
    from kafkahooks.config import RouteConfig
    from kafkahooks.delivery.route import Route
    from kafkahooks.endpoints import Endpoint

__all__ = ["CircuitBreaker", "EndpointGate", "Gates", "RateLimiter", "origin_of"]

log = logging.getLogger("kafkahooks.endpoints")

State = Literal["closed", "open", "half-open"]
# customer-endpoint gates kept beyond need: more are dropped when idle (module doc)
IDLE_ENDPOINT_GATES = 4096
# what a customer endpoint's gate limits come from: its rate limit, the route's limits
_EndpointWanted = tuple[float | None, EndpointLimits, CircuitBreakerConfig]
# seconds a customer endpoint's own rate limit may hold an event before it is parked
MAX_RATE_WAIT = 1.0


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` (the port unless it is the scheme's default, as a web
    origin is written): the gate's key, the circuit metric's label and the name in
    logs.  Built from its parts, so nothing else of the URL (a ``user:password@``, a
    path token) can reach a label or a log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # refused at load; a label must still never fail
        port = None
    if port is None or port == {"https": 443, "http": 80}.get(parts.scheme):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


class CircuitBreaker:
    """``origin`` names it in logs; ``label`` in the circuit metric (``None``: no metric,
    as for a customer endpoint's)."""

    # slots: a customer endpoint's gate holds one, and thousands of gates are kept
    __slots__ = (
        "_closed",
        "_opened",
        "_opened_at",
        "_probing",
        "config",
        "failures",
        "label",
        "opened",
        "origin",
        "state",
    )

    def __init__(self, origin: str, config: CircuitBreakerConfig, label: str | None = None) -> None:
        self.origin = origin
        self.label = label
        self.config = config
        self.state: State = "closed"
        self.failures = 0
        self.opened = 0  # times it opened, for metrics and tests
        self._opened_at = 0.0
        self._probing = False
        # made when first needed: a customer endpoint's gate is made often (module doc)
        self._closed: asyncio.Event | None = None  # set while closed: ends a wait to send
        self._opened: asyncio.Event | None = None  # set while not closed: ends a backoff

    def blocked(self, now: float) -> bool:
        """Whether a request now would wait: open with no probe due, or a probe out."""
        if self.state == "closed":
            return False
        return self._probing or now < self._opened_at + self.config.probe_after

    async def sleep_unless_opened(self, delay: float) -> None:
        """Sleep ``delay`` seconds, or until the circuit opens if that comes first."""
        if self.state != "closed":
            return
        if self._opened is None:
            self._opened = asyncio.Event()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._opened.wait(), delay)

    async def admit(self) -> bool:
        """Wait until a request may go; ``True`` if this request is the probe."""
        while self.state != "closed":
            now = time.monotonic()
            due = self._opened_at + self.config.probe_after
            if not self._probing and now >= due:
                self._probing = True
                self.state = "half-open"
                self._show()
                return True
            # while a probe is out, look again after a probe interval (it may fail)
            wait = self.config.probe_after if self._probing else max(0.01, due - now)
            with suppress(TimeoutError):
                if self._closed is None:
                    self._closed = asyncio.Event()
                await asyncio.wait_for(self._closed.wait(), wait)
        return False

    def record(self, ok: bool, probe: bool) -> None:
        if ok:
            self.failures = 0
            if self.state != "closed":
                log.info("circuit closed", extra={"endpoint": self.origin})
                self.state = "closed"
                self._show()
                self._probing = False
                if self._closed is not None:
                    self._closed.set()
                if self._opened is not None:
                    self._opened.clear()
            return
        self.failures += 1
        if probe or (self.state == "closed" and self.failures >= self.config.failures):
            self._open()

    def _show(self) -> None:
        if self.label is not None:
            METRICS.circuit.labels(self.label).set(CIRCUIT_STATES[self.state])

    def _open(self) -> None:
        if self.state == "closed":
            self.opened += 1
            log.warning("circuit open", extra={"endpoint": self.origin, "failures": self.failures})
        self.state = "open"
        self._show()
        self._probing = False
        self._opened_at = time.monotonic()
        if self._closed is not None:
            self._closed.clear()
        if self._opened is not None:
            self._opened.set()


class RateLimiter:
    """Evenly spaced requests: at most ``rate`` per second."""

    __slots__ = ("_interval", "_next")

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0

    def idle(self, now: float) -> bool:
        """Whether a new limiter would space the next request the same."""
        return self._next <= now

    def delay(self, now: float) -> float:
        """Seconds the next request would wait for its turn."""
        return max(0.0, self._next - now)

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


class EndpointGate:
    """``metric``: whether its breaker shows in the circuit metric (labelled by origin)."""

    # slots: thousands of customer endpoints' gates are kept (module doc)
    __slots__ = (
        "_rate",
        "_slots",
        "breaker",
        "breaker_config",
        "busy",
        "limits",
        "metric",
        "origin",
        "shared",
    )

    def __init__(
        self,
        origin: str,
        limits: EndpointLimits,
        breaker: CircuitBreakerConfig,
        metric: bool = True,
    ):
        self.origin = origin
        self.limits = limits
        self.breaker_config = breaker
        self.metric = metric
        # made at the first failure: until then it would be closed with no failure (a
        # customer endpoint's gate is made per endpoint seen, and most never fail)
        self.breaker: CircuitBreaker | None = None
        self._rate = RateLimiter(limits.rate_per_second) if limits.rate_per_second else None
        self._slots = asyncio.Semaphore(limits.concurrency) if limits.concurrency else None
        self.busy = 0  # requests that entered a slot (waiting or sent) and did not leave it
        self.shared = False  # the stateless gate of customer endpoints (``Gates.to_send``)

    def idle(self) -> bool:
        """Whether a new gate with the same limits would behave exactly as this one."""
        breaker, rate = self.breaker, self._rate
        return (
            self.busy == 0
            and (breaker is None or (breaker.state == "closed" and breaker.failures == 0))
            and (rate is None or rate.idle(time.monotonic()))
        )

    def backlog(self) -> str | None:
        """Why an event should be parked rather than wait here now (``None``: send it)."""
        breaker, rate = self.breaker, self._rate
        if breaker is None and rate is None:
            return None  # the usual gate, asked on every attempt: no clock read
        now = time.monotonic()
        if breaker is not None and breaker.blocked(now):
            return "circuit-open"
        if rate is not None and rate.delay(now) > MAX_RATE_WAIT:
            return "rate-limited"
        return None

    async def backoff(self, delay: float) -> None:
        """The wait between two in-process attempts, cut short when the circuit opens
        (the next attempt then finds it open and the event is parked)."""
        if self.breaker is None:
            await asyncio.sleep(delay)
        else:
            await self.breaker.sleep_unless_opened(delay)

    def slot(self) -> _Slot:
        """Hold an endpoint slot for one request (``async with``); yields whether it is
        the breaker's probe."""
        return _Slot(self)

    def _unanswered(self, probe: bool) -> None:
        if probe and self.breaker is not None and self.breaker.state == "half-open":
            self.breaker.record(False, probe=True)  # a probe that never answered

    def record(self, ok: bool, probe: bool) -> None:
        breaker = self.breaker
        if breaker is None:
            if ok or not self.breaker_config.enabled:
                return  # closed with no failure: what a breaker made now would hold
            label = self.origin if self.metric else None
            breaker = self.breaker = CircuitBreaker(self.origin, self.breaker_config, label)
        breaker.record(ok, probe)

    def reconfigured(self, limits: EndpointLimits, breaker: CircuitBreakerConfig) -> EndpointGate:
        """A gate with new limits that keeps this one's breaker state (hot reload)."""
        gate = EndpointGate(self.origin, limits, breaker, self.metric)
        if breaker.enabled and self.breaker is not None:
            self.breaker.config = breaker
            gate.breaker = self.breaker
        return gate


class Gates:
    """The process's endpoint gates, one per origin, shared by every route naming it.

    ``configure`` (at start and on each reload) names which route sets an
    origin's limits: the first active one in the routes file.
    """

    def __init__(self) -> None:
        self._gates: dict[str, EndpointGate] = {}
        self._by_url: dict[str, EndpointGate] = {}  # saves parsing the URL per event
        self._wanted: dict[str, tuple[EndpointLimits, CircuitBreakerConfig]] = {}
        # customer endpoints: endpoint id → (its gate, what its limits were made from)
        self._endpoints: OrderedDict[str, tuple[EndpointGate, _EndpointWanted]] = OrderedDict()
        # the stateless gate of endpoints with no gate (``to_send``): nothing is recorded
        # in it, so it never makes a breaker, and it has no limits to apply
        self._free = EndpointGate(
            "customer endpoints", EndpointLimits(), CircuitBreakerConfig(enabled=False), False
        )
        self._free.shared = True
        self.idle_endpoint_gates = IDLE_ENDPOINT_GATES

    def for_endpoint(self, route: Route, endpoint: Endpoint) -> EndpointGate:
        """The gate of one customer endpoint: its own (see the module doc), with the
        limits of its current version; a change gives a new gate keeping the breaker."""
        cfg = route.config
        wanted = (endpoint.rate_limit, cfg.limits, cfg.circuit_breaker)
        found = self._endpoints.get(endpoint.id)
        if found is not None and found[1] == wanted:
            self._endpoints.move_to_end(endpoint.id)
            return found[0]
        limits = cfg.limits
        if endpoint.rate_limit is not None:
            limits = EndpointLimits(
                concurrency=limits.concurrency, rate_per_second=endpoint.rate_limit
            )
        if found is None:
            name = f"{endpoint.origin} ({endpoint.id})"
            gate = EndpointGate(name, limits, cfg.circuit_breaker, metric=False)
        else:
            gate = found[0].reconfigured(limits, cfg.circuit_breaker)
            self._endpoints.move_to_end(endpoint.id)  # (a new key is put at the end)
        self._endpoints[endpoint.id] = (gate, wanted)
        if len(self._endpoints) > self.idle_endpoint_gates:
            self._drop_idle()
        return gate

    def to_send(self, route: Route, endpoint: Endpoint) -> EndpointGate:
        """The gate an attempt to a customer endpoint goes through: its own if it has one
        or has limits to keep, else the shared stateless one (module doc).  The answer
        goes to :meth:`record`."""
        if route.limited or endpoint.rate_limit is not None or endpoint.id in self._endpoints:
            return self.for_endpoint(route, endpoint)
        return self._free

    def record(
        self, route: Route, endpoint: Endpoint, gate: EndpointGate, ok: bool, probe: bool
    ) -> None:
        """An attempt through ``gate`` (from :meth:`to_send`) was answered: a shared gate's
        answer goes to the endpoint's own gate, made now if there is something to keep."""
        if gate.shared:
            found = self._endpoints.get(endpoint.id)
            if found is None and ok:
                return  # healthy: what a new gate would hold
            gate = found[0] if found is not None else self.for_endpoint(route, endpoint)
        gate.record(ok, probe)

    def current(self, endpoint_id: str, gate: EndpointGate) -> EndpointGate:
        """The endpoint's own gate if it has one now, else ``gate`` (a backoff after a
        failure through the shared gate is cut short by the endpoint's circuit)."""
        found = self._endpoints.get(endpoint_id) if gate.shared else None
        return gate if found is None else found[0]

    def backlog_of(self, endpoint_id: str) -> str | None:
        """Why a customer endpoint cannot take an event now (``EndpointGate.backlog``), if
        it has a gate; ``None`` otherwise (a new gate is closed and unlimited)."""
        found = self._endpoints.get(endpoint_id)
        return None if found is None else found[0].backlog()

    def _drop_idle(self) -> None:
        """Look at the two least recently used gates: drop an idle one, keep a busy one
        (it moves to the end): two looks per new gate keep the count near the bound
        while most gates are idle, at a constant cost per event."""
        endpoints = self._endpoints
        for _ in range(2):
            key, entry = endpoints.popitem(last=False)
            if not entry[0].idle():
                endpoints[key] = entry  # busy: kept, now the most recently used

    def endpoint_gone(self, endpoint_id: str) -> None:
        """Forget a deleted endpoint's gate."""
        self._endpoints.pop(endpoint_id, None)

    def for_route(self, route: Route) -> EndpointGate:
        url = route.config.target.url
        gate = self._by_url.get(url)
        if gate is None:
            origin = origin_of(url)
            gate = self._gates.get(origin)
            if gate is None:
                cfg = route.config
                limits, breaker = self._wanted.get(origin, (cfg.limits, cfg.circuit_breaker))
                gate = self._gates[origin] = EndpointGate(origin, limits, breaker)
            self._by_url[url] = gate
        return gate

    def configure(self, routes: Iterable[RouteConfig]) -> None:
        """The limits per origin from now on; a gate whose limits changed is replaced."""
        wanted: dict[str, tuple[EndpointLimits, CircuitBreakerConfig]] = {}
        for cfg in routes:
            if cfg.active and cfg.endpoint is not None:  # tenant endpoints: gates of their own
                wanted.setdefault(origin_of(cfg.endpoint.url), (cfg.limits, cfg.circuit_breaker))
        for origin, gate in list(self._gates.items()):
            if origin not in wanted:  # no route names it any more
                del self._gates[origin]
                continue
            limits, breaker = wanted[origin]
            if (gate.limits, gate.breaker_config) != (limits, breaker):
                self._gates[origin] = gate.reconfigured(limits, breaker)
                log.info("endpoint limits changed", extra={"endpoint": origin})
        self._wanted = wanted
        self._by_url.clear()


class _Slot:
    """``EndpointGate.slot()``: a plain class, as it is entered for every request (a
    generator-based context manager cost more than the rest of the gate)."""

    __slots__ = ("_gate", "_probe")

    def __init__(self, gate: EndpointGate) -> None:
        self._gate = gate
        self._probe = False

    async def __aenter__(self) -> bool:
        gate = self._gate
        gate.busy += 1
        try:
            if gate.breaker is not None and gate.breaker.state != "closed":
                self._probe = await gate.breaker.admit()
            if gate._rate is not None:
                await gate._rate.wait()
            if gate._slots is not None:
                await gate._slots.acquire()
        except BaseException:
            gate.busy -= 1
            gate._unanswered(self._probe)
            raise
        return self._probe

    async def __aexit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        gate = self._gate
        gate.busy -= 1
        if gate._slots is not None:
            gate._slots.release()
        if error is not None:
            gate._unanswered(self._probe)
