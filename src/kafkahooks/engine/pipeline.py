"""From a consumed record to a finished event.

``accept`` is called by the consumer loop for every record it takes.  An
event is finished when every route that matched it ended delivered,
filtered out, or dead-lettered with the broker's acknowledgement; only then
is the offset tracker told, and only the tracker decides what is committed.
Nothing is finished without one of those outcomes: a parked record that can
no longer be retried is dead-lettered too (see :mod:`kafkahooks.parking`).

A hot reload swaps the routes between two records (``replace_routes``).  A
record of a topic the new routes no longer read is not taken: the consumer
is asked to read it again a moment later, by when it has dropped the topic
(the record stays uncommitted) or the topic is read again (it is taken then).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kafkahooks.decode import (
    DecodeError,
    Decoders,
    RegistryUnavailableError,
    SourcePlan,
    ValueTooLargeError,
)
from kafkahooks.delivery.deliverer import Deliverer
from kafkahooks.delivery.errors import (
    DeadLetterWriteError,
    RetryableDeliveryError,
    RouteDisabledError,
)
from kafkahooks.delivery.retry import DeliveryReport
from kafkahooks.delivery.route import Route, RouteTable
from kafkahooks.engine.batching import Batcher, batch_lane
from kafkahooks.engine.deadletter import DeadLetter, DeadLetterWriter
from kafkahooks.engine.dlqlimit import DeadLetterLimit, DeadLetterLimitExceeded
from kafkahooks.engine.parking import (
    Parked,
    ParkedMalformedError,
    ParkedRecordError,
    ParkedUndecodableError,
    RouteRemovedError,
    park_headers,
    read_parked,
)
from kafkahooks.engine.scheduler import Job, Scheduler
from kafkahooks.event import Event, event_id
from kafkahooks.kafka.offsets import OffsetTracker, TopicPartitionKey
from kafkahooks.kafka.producer import AckedProducer, ProduceError
from kafkahooks.telemetry.metrics import METRICS, route_metrics
from kafkahooks.templating.templates import RenderContext

__all__ = ["Pipeline", "RouteSet", "Stats"]

log = logging.getLogger("kafkahooks.pipeline")

# Seconds until a record of a topic no longer read is read again (see the module doc).
_READ_AGAIN_AFTER = 1.0
# Dead letters that are not delivery failures: the dead-letter limit does not count them.
_NOT_COUNTED = frozenset(
    c.__name__
    for c in (RouteDisabledError, ParkedMalformedError, ParkedUndecodableError, RouteRemovedError)
)


@dataclass
class Stats:
    taken: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    filtered: int = 0
    by_route: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, route: str, outcome: str, n: int = 1) -> None:
        per = self.by_route.setdefault(route, {})
        per[outcome] = per.get(outcome, 0) + n


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


class Pipeline:
    def __init__(
        self,
        routes: RouteTable,
        deliverer: Deliverer,
        dead_letters: DeadLetterWriter,
        tracker: OffsetTracker,
        decoders: Decoders | None = None,
        dead_letter_limit: DeadLetterLimit | None = None,
        producer: AckedProducer | None = None,
    ) -> None:
        self.producer = producer  # the main cluster's: parks events on retry topics
        self.decoders = decoders or Decoders()
        self.dead_letter_limit = dead_letter_limit or DeadLetterLimit()
        self.replace_routes(routes)
        self.deliverer = deliverer
        self.dead_letters = dead_letters
        self.tracker = tracker
        self.scheduler = Scheduler(on_error=self._job_failed)
        self.batcher = Batcher(self._submit_batch)
        self.stats = Stats()
        self.fatal: BaseException | None = None
        self._pending: dict[tuple[str, int, int], int] = {}
        self._writing = 0  # dead-letter writes waiting for their ack

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

    # -- intake -----------------------------------------------------------
    def accept(self, event: Event) -> float | None:
        """Take a record.  One not taken returns when to read it again: a parked record
        not yet due, or a record of a topic no longer read (see the module doc)."""
        plan = self._plans.get(event.topic)
        if plan is not None:
            self._accept(event, plan)
            return None
        if event.topic in self._parked_routes:
            return self._accept_parked(event)
        return time.time() + _READ_AGAIN_AFTER  # not begun: nothing passes it

    def _begin(self, event: Event) -> None:
        self.tracker.begin((event.topic, event.partition), event.offset)
        self.stats.taken += 1

    def _accept(self, event: Event, plan: SourcePlan[Route]) -> None:
        tp = (event.topic, event.partition)
        self.tracker.begin(tp, event.offset)
        self.stats.taken += 1
        try:
            reading = plan.read(event)
        except RegistryUnavailableError as exc:
            self._stop(exc)  # not the record's fault: it stays unfinished, nothing is skipped
            return
        if reading.skipped:  # a tombstone
            self._finish(event)
            return
        matched = []
        for view, routes in reading.views:
            for route in routes:
                ctx = route.take(view)
                if ctx is not None:
                    matched.append((route, ctx))
        if not matched and not reading.failures:
            self.stats.filtered += 1
            self.dead_letter_limit.ok(tp)
            METRICS.deliveries.labels("*", "filtered").inc()
            self._finish(event)
            return
        outcomes = len(matched) + len(reading.failures)
        if outcomes > 1:  # one outcome (the common case) finishes the event by itself
            self._pending[(event.topic, event.partition, event.offset)] = outcomes
        for error, failed_route in reading.failures:
            self._spawn_undecodable(tp, event, error, failed_route)
        for route, ctx in matched:
            if route.config.batch is not None:
                self.batcher.add(tp, route, ctx)
            else:
                job = self._job(route, ctx)
                self.scheduler.submit(tp, route.name, route.config.ordering, event.key, job)

    def _accept_parked(self, record: Event) -> float | None:
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
            self._stop(exc)  # as on the normal path: it stays unfinished, nothing is skipped
            return None
        if isinstance(found, ParkedRecordError):
            self._drop_parked(record, parked, found)
            return None
        route, view, etype = found

        def done() -> None:
            self._finish(record)  # the retry-topic record, not the source event

        job = self._job(route, route.context(view, etype), parked.tier, done)
        # parked events have left their key's lane: they are retried in any order
        self.scheduler.submit((record.topic, record.partition), route.name, "none", None, job)
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
        """Dead-letter a parked record that cannot be retried (to its route's dead-letter
        topic, or ``<source>.dlq`` when the route is gone); the retry-topic record is
        finished once the broker acknowledged that."""
        if parked is None:  # malformed: the retry-topic record itself, as its route's
            owner = self._parked_routes[record.topic]
            route_name: str = owner.name
            event, eid, attempts = record, None, 0
            topic = owner.config.dead_letter_for(record.topic)
        else:
            route_name, event, attempts = parked.route, parked.original, parked.attempts
            eid = event_id(event.topic, event.partition, event.offset, event.timestamp, route_name)
            current = self._named.get(route_name)
            topic = current.config.dead_letter_for(event.topic) if current else f"{event.topic}.dlq"
        dead = DeadLetter(
            topic=topic,
            event=event,
            error_class=type(error).__name__,
            error_message=str(error),
            route=route_name,
            event_id=eid,
            attempts=attempts,
        )

        async def run() -> None:
            await self._write_dead_letter(dead)
            self.stats.dead_lettered += 1
            self.stats.count(route_name, "dead_lettered")
            METRICS.deliveries.labels(route_name, "dead_lettered").inc()
            METRICS.dead_lettered.labels(route_name, dead.error_class).inc()
            log.warning(
                "parked event dead-lettered",
                extra={
                    "route": route_name,
                    "event_id": eid,
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "dead_letter_topic": topic,
                    "reason": str(error),
                },
            )
            self._finish(record)

        self.scheduler.submit((record.topic, record.partition), "", "none", None, run)

    def _finish(self, event: Event) -> None:
        self.tracker.finish((event.topic, event.partition), event.offset)

    def _route_done(self, event: Event) -> None:
        if not self._pending:
            self._finish(event)
            return
        key = (event.topic, event.partition, event.offset)
        left = self._pending.get(key, 1) - 1
        if left:
            self._pending[key] = left
        else:
            self._pending.pop(key, None)
            self._finish(event)

    # -- outcomes -----------------------------------------------------------
    def _job(
        self,
        route: Route,
        ctx: RenderContext,
        tier: int = 0,
        done: Callable[[], None] | None = None,
    ) -> Job:
        async def run() -> None:
            report = await self.deliverer.deliver(route, ctx)
            await self._settle(route, [ctx], report, tier, done)

        return run

    def _submit_batch(self, tp: TopicPartitionKey, route: Route, ctxs: list[RenderContext]) -> None:
        async def run() -> None:
            report = await self.deliverer.deliver_batch(route, ctxs)
            await self._settle(route, ctxs, report)

        # one batch in flight per lane; a key always maps to one lane, so its order holds
        lane = str(batch_lane(route, ctxs[0].event)).encode()
        self.scheduler.submit(tp, route.name, "key", lane, run)

    async def _settle(
        self,
        route: Route,
        ctxs: list[RenderContext],
        report: DeliveryReport,
        tier: int = 0,
        done: Callable[[], None] | None = None,
    ) -> None:
        route.state.observe(route.name, report)  # 410 Gone disables the route
        if report.delivered:
            self.dead_letter_limit.ok((ctxs[0].event.topic, ctxs[0].event.partition), len(ctxs))
            self.stats.delivered += len(ctxs)
            self.stats.count(route.name, "delivered", len(ctxs))
            route_metrics(route.name).delivered.inc(len(ctxs))
        elif self._parks(route, report, tier, len(ctxs)):
            await self._park(route, ctxs[0], report, tier + 1)
        else:
            for ctx in ctxs:
                await self._dead_letter(route, ctx, report)
        if done is not None:
            done()
            return
        for ctx in ctxs:
            self._route_done(ctx.event)

    def _parks(self, route: Route, report: DeliveryReport, tier: int, size: int) -> bool:
        """Retryable failure with a retry tier left: park instead of dead-lettering."""
        schedule = route.config.retry_topics
        return (
            schedule is not None
            and size == 1
            and self.producer is not None
            and isinstance(report.error, RetryableDeliveryError)
            and tier < len(schedule.delays)
        )

    async def _park(
        self, route: Route, ctx: RenderContext, report: DeliveryReport, tier: int
    ) -> None:
        schedule = route.config.retry_topics
        assert schedule is not None and self.producer is not None and report.error is not None
        topic = schedule.topic(route.name, tier)
        event = ctx.event
        headers = park_headers(
            event, route.name, tier, schedule.delays[tier - 1], report.attempts, report.error.reason
        )
        try:
            await self.producer.send(topic, event.raw_value, event.key, headers)
        except ProduceError as exc:
            # like a failed dead-letter write: never skip the event
            self._stop(DeadLetterWriteError(f"parking on {topic!r} failed: {exc}"))
            await asyncio.Event().wait()
        self.stats.count(route.name, "parked")
        METRICS.parked.labels(route.name, str(tier)).inc()
        log.info(
            "parked for a later retry",
            extra={
                "route": route.name,
                "event_id": ctx.event_id,
                "tier": tier,
                "topic": topic,
                "reason": report.error.reason,
            },
        )

    async def _dead_letter(self, route: Route, ctx: RenderContext, report: DeliveryReport) -> None:
        error = report.error
        assert error is not None
        record = DeadLetter(
            topic=route.config.dead_letter_for(ctx.event.topic),
            event=ctx.event,
            error_class=type(error).__name__,
            error_message=error.reason,
            route=route.name,
            event_id=ctx.event_id,
            status=report.status,
            attempts=report.attempts,
        )
        await self._write_dead_letter(record)
        self.stats.dead_lettered += 1
        self.stats.count(route.name, "dead_lettered")
        METRICS.deliveries.labels(route.name, "dead_lettered").inc()
        METRICS.dead_lettered.labels(route.name, record.error_class).inc()
        # a disabled route was logged once when it was disabled
        (log.debug if isinstance(error, RouteDisabledError) else log.warning)(
            "dead-lettered",
            extra={
                "route": route.name,
                "event_id": ctx.event_id,
                "topic": ctx.event.topic,
                "partition": ctx.event.partition,
                "offset": ctx.event.offset,
                "reason": error.reason,
                "attempts": report.attempts,
            },
        )

    async def _write_dead_letter(self, record: DeadLetter) -> None:
        # Never skip: on either error the event stays unfinished so no commit passes it.
        try:
            if record.error_class not in _NOT_COUNTED:  # not a delivery failure
                self.dead_letter_limit.dead_letter(
                    (record.event.topic, record.event.partition), record.event.offset
                )
        except DeadLetterLimitExceeded as exc:
            await self._writes_landed()  # the dead letters before it finish: not redone
            await self._halt(exc)
        self._writing += 1
        try:
            await self.dead_letters.write(record)
            return
        except DeadLetterWriteError as exc:
            failure = exc
        finally:
            self._writing -= 1
        await self._halt(failure)

    async def _writes_landed(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self._writing and time.monotonic() < deadline:
            if self.fatal is not None:  # stopping anyway: nothing to wait for
                return
            await asyncio.sleep(0.01)

    async def _halt(self, exc: BaseException) -> None:
        self._stop(exc)
        await asyncio.Event().wait()  # hold the lane until shutdown cancels us

    def _job_failed(self, exc: BaseException) -> None:
        log.error("delivery job failed unexpectedly; stopping", exc_info=exc)
        self._stop(exc)

    def _stop(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
            log.error("stopping", extra={"error": str(exc)})

    def _spawn_undecodable(
        self, tp: TopicPartitionKey, event: Event, exc: DecodeError, route: Route | None
    ) -> None:
        """Dead-letter a record that cannot be read: to the source topic's dead-letter
        topic when no route was chosen yet, else to the route's."""
        record = DeadLetter(
            topic=route.config.dead_letter_for(event.topic) if route else f"{event.topic}.dlq",
            event=event,
            error_class=type(exc).__name__,
            error_message=str(exc),
            route=route.name if route else None,
            event_id=route.context(event, None).event_id if route else None,
            with_body=not isinstance(exc, ValueTooLargeError),
        )

        async def run() -> None:
            await self._write_dead_letter(record)
            self.stats.dead_lettered += 1
            METRICS.dead_lettered.labels(record.route or "", record.error_class).inc()
            log.warning(
                "undecodable record dead-lettered",
                extra={
                    "topic": event.topic,
                    "partition": event.partition,
                    "offset": event.offset,
                    "reason": str(exc),
                },
            )
            self._route_done(event)

        self.scheduler.submit(tp, "", "none", None, run)

    # -- drains -------------------------------------------------------------
    async def drain(self, tps: list[TopicPartitionKey], timeout: float) -> bool:
        """Finish what these partitions have taken, up to ``timeout``; cancel the rest.

        Afterwards nothing of these partitions is left here: no task, no lane, no open
        batch, no fan-out count, so a partition assigned again starts clean (after
        ``on_lost`` the drain has no time at all, and a batch lane emitted by the flush
        is cancelled before its first step)."""
        self.batcher.flush(tps)
        deadline = time.monotonic() + timeout
        while self.tracker.outstanding_in(tps) and time.monotonic() < deadline:
            if self.fatal is not None:
                break
            await asyncio.sleep(0.02)
        clean = self.tracker.outstanding_in(tps) == 0
        await self.scheduler.cancel(tps)
        self.batcher.drop(tps)
        gone = set(tps)
        for key in [k for k in self._pending if (k[0], k[1]) in gone]:
            del self._pending[key]
        return clean
