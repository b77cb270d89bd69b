"""Intake: the first steps of the chain, from a consumed record to the routes that take it.

``accept`` is called by the consumer loop for every record it takes: the
record is begun in the offset tracker, decoded with its topic's plan, and
matched against the topic's routes (fan-out).  Each route that takes it is
handed to dispatch; a decoding failure, and a record no route takes, to
settle.  A route with ``endpoints:`` fans out once more, to each endpoint of
the event's tenant that takes it (``engine/fanout.py``): one delivery each, none
(filtered), or a ``no-tenant`` dead letter.  An event with several outcomes to
wait for tells the finish step how many.

A record of a retry topic is a parked event (``engine/parking.py``): once it
is due it is decoded again and handed to dispatch for its route's next try
(to its one customer endpoint, when it names one); when that is no longer
possible it is dead-lettered.

A hot reload swaps the routes between two records (``replace_routes``).  A
record of a topic the new routes no longer read is not taken: the consumer
is asked to read it again a moment later, by when it has dropped the topic
(the record stays uncommitted) or the topic is read again (it is taken then).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kafkahooks.decode import Decoders, RegistryUnavailableError, SourcePlan
from kafkahooks.delivery import NoTenantError, Route, RouteTable
from kafkahooks.engine.deadletter import dead_letter
from kafkahooks.engine.dispatch import Dispatch
from kafkahooks.engine.fanout import FanOut
from kafkahooks.engine.finish import Finish
from kafkahooks.engine.halt import Halt
from kafkahooks.engine.parking import (
    Parked,
    ParkedMalformedError,
    ParkedRecordError,
    ParkedUndecodableError,
    RouteRemovedError,
    read_parked,
)
from kafkahooks.engine.settle import Settle
from kafkahooks.engine.stats import Stats
from kafkahooks.event import Event, event_id
from kafkahooks.kafka import OffsetTracker
from kafkahooks.templating import RenderContext

__all__ = ["Intake", "RouteSet"]

# Seconds until a record of a topic no longer read is read again (see the module doc).
_READ_AGAIN_AFTER = 1.0


@dataclass(frozen=True, slots=True)
class RouteSet:
    """A routes table made ready for intake: decoding plans per source topic, and which
    route each retry topic belongs to.  Built before it replaces the running one, so a
    reload that cannot be applied changes nothing."""

    table: RouteTable
    plans: dict[str, SourcePlan[Route]]
    parked_routes: dict[str, Route]  # retry topic → the route it parks for
    named: dict[str, Route]

    @property
    def topics(self) -> list[str]:
        """Every topic to subscribe to: source topics, then retry topics."""
        return [*self.table.topics, *self.parked_routes]


class Intake:
    def __init__(
        self,
        routes: RouteTable,
        decoders: Decoders,
        tracker: OffsetTracker,
        stats: Stats,
        dispatch: Dispatch,
        settle: Settle,
        finish: Finish,
        halt: Halt,
    ) -> None:
        self.decoders = decoders
        self._tracker = tracker
        self._stats = stats
        self._dispatch = dispatch
        self._settle = settle
        self._finish = finish
        self._halt = halt
        self._fan_out = FanOut()
        self.replace_routes(routes)

    def prepare_routes(self, routes: RouteTable) -> RouteSet:
        """``routes`` made ready for intake; raises (changing nothing) if they cannot be."""
        # plans are built now, so a bad schema file or registry setting fails early
        plans = {
            topic: self.decoders.plan(topic, group) for topic, group in routes.by_topic.items()
        }
        parked_routes = {
            cfg.retry_topics.topic(route.name, tier): route
            for route in routes.routes
            if (cfg := route.config).retry_topics is not None
            for tier in range(1, len(cfg.retry_topics.delays) + 1)
        }
        return RouteSet(routes, plans, parked_routes, {r.name: r for r in routes.routes})

    def replace_routes(self, routes: RouteTable | RouteSet) -> None:
        """Routes for every record accepted from now on (start-up and hot reload)."""
        ready = routes if isinstance(routes, RouteSet) else self.prepare_routes(routes)
        self._plans = ready.plans
        self._parked_routes = ready.parked_routes
        self._named = ready.named
        self.routes = ready.table
        self.topics = ready.topics

    def accept(self, event: Event) -> float | None:
        """Take a record.  One not taken returns when to read it again: a parked record
        not yet due, or a record of a topic no longer read (see the module doc)."""
        plan = self._plans.get(event.topic)
        if plan is not None:
            self._take(event, plan)
            return None
        if event.topic in self._parked_routes:
            return self._take_parked(event)
        return time.time() + _READ_AGAIN_AFTER  # not begun: nothing passes it

    def _begin(self, event: Event) -> None:
        self._tracker.begin((event.topic, event.partition), event.offset)
        self._stats.taken += 1

    # -- decode → match routes (fan-out) → dispatch ----------------------------
    def _take(self, event: Event, plan: SourcePlan[Route]) -> None:
        tp = (event.topic, event.partition)
        self._tracker.begin(tp, event.offset)
        self._stats.taken += 1
        try:
            reading = plan.read(event)
        except RegistryUnavailableError as exc:
            self._halt.stop(exc)  # not the record's fault: it stays unfinished, nothing skipped
            return
        if reading.skipped:  # a tombstone
            self._finish.event(event)
            return
        matched: list[tuple[Route, RenderContext]] = []
        no_tenant: list[tuple[Route, RenderContext]] | None = None
        for view, routes in reading.views:
            for route in routes:
                ctx = route.take(view)
                if ctx is None:
                    continue
                if route.tenant is None:
                    matched.append((route, ctx))
                    continue
                fanned = self._fan_out.contexts(route, ctx)
                if isinstance(fanned, list):
                    for each in fanned:  # a loop: a comprehension is a call of its own here
                        matched.append((route, each))
                else:
                    no_tenant = [*(no_tenant or ()), (route, ctx)]
        failures = len(reading.failures) + (len(no_tenant) if no_tenant else 0)
        if not matched and not failures:
            self._settle.filtered(event)
            return
        outcomes = len(matched) + failures
        if outcomes > 1:  # one outcome (the common case) finishes the event by itself
            self._finish.expect(event, outcomes)
        for error, failed_route in reading.failures:
            self._settle.undecodable(tp, event, error, failed_route)
        for route, ctx in no_tenant or ():
            self._dispatch.fail(tp, route, ctx, NoTenantError())
        for route, ctx in matched:
            self._dispatch.submit(tp, route, ctx)

    # -- parked records: due → decode again → dispatch -------------------------
    def _take_parked(self, record: Event) -> float | None:
        try:
            parked = read_parked(record)
        except ValueError as exc:
            self._begin(record)
            self._drop_parked(record, None, ParkedMalformedError(str(exc)))
            return None
        if parked.not_before > time.time():
            return parked.not_before
        self._begin(record)
        try:
            found = self._parked_view(parked)
        except RegistryUnavailableError as exc:
            self._halt.stop(exc)  # as on the normal path: it stays unfinished, nothing skipped
            return None
        if isinstance(found, ParkedRecordError):
            self._drop_parked(record, parked, found)
            return None
        route, view, etype = found
        ctx = route.context(view, etype)
        ctx.endpoint_id = parked.endpoint_id  # retried to that endpoint only
        self._dispatch.retry(record, route, ctx, parked.tier)
        return None

    def _parked_view(self, parked: Parked) -> tuple[Route, Event, object] | ParkedRecordError:
        """The route and decoded event to retry, or why that is no longer possible.
        Raises :class:`RegistryUnavailableError` (not the record's fault)."""
        original = parked.original
        route = self._named.get(parked.route)
        if route is None:
            return RouteRemovedError(f"route {parked.route!r} is not configured any more")
        plan = self._plans.get(original.topic)
        if plan is None or original.topic not in route.config.topics:
            return RouteRemovedError(f"route {parked.route!r} no longer reads {original.topic!r}")
        if (parked.endpoint_id is None) != (route.tenant is None):
            now = "customer endpoints" if route.tenant is not None else "a fixed endpoint"
            return RouteRemovedError(f"route {parked.route!r} now delivers to {now}")
        reading = plan.read(original)
        for view, routes in reading.views:
            if any(r is route for r in routes):
                return route, view, route.match(view)[1]
        for error, failed in reading.failures:
            if failed is None or failed is route:
                return ParkedUndecodableError(f"{type(error).__name__}: {error}")
        if reading.skipped:
            return ParkedUndecodableError("a tombstone, and its source now skips tombstones")
        return RouteRemovedError(f"route {parked.route!r} no longer reads {original.topic!r}")

    def _drop_parked(self, record: Event, parked: Parked | None, error: ParkedRecordError) -> None:
        """Dead-letter a parked record that cannot be retried: to its route's dead-letter
        topic, or ``<source>.dlq`` when the route is gone."""
        if parked is None:  # malformed: the retry-topic record itself, as its route's
            dead = dead_letter(record, error, self._parked_routes[record.topic])
        else:
            event = parked.original
            dead = dead_letter(
                event,
                error,
                self._named.get(parked.route),
                route_name=parked.route,
                event_id=event_id(
                    event.topic, event.partition, event.offset, event.timestamp, parked.route
                ),
                attempts=parked.attempts,
            )
        self._settle.unretryable(record, dead)
