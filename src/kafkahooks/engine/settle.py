"""Settle: an event's outcome on one route, decided once and carried out.

:func:`outcome` is the one function that decides what a delivery report means
(after svix's dispatch states, pending → completed: successful / failed):

* ``DELIVERED``: the endpoint took it;
* ``PARKED``: a retryable failure of a single event with a retry tier left: it
  goes to the route's next retry topic (``engine/parking.py``); a customer
  endpoint that could not take it now (``EndpointBackloggedError``: nothing was
  sent) parks it on the tier it is on, at least the first, whatever tiers are left;
* ``ENDPOINT_DELETED``: the customer endpoint it was for is gone: finished,
  counted and in the delivery log, never dead-lettered;
* ``DEAD_LETTERED``: anything else: it goes to the route's dead-letter topic.

A customer endpoint's delivery is one outcome of its event; its park or dead
letter names the endpoint (``kafkahooks.endpoint_id``).

:class:`Settle` carries it out, and also settles the records that never reach
a delivery: filtered (no route took it), undecodable, and a parked record that
can no longer be retried (both dead-lettered).

An outcome counts once the broker acknowledged it (a park or a dead letter);
then the event's share is finished (``engine/finish.py``).  Halting is not an
outcome: when the broker does not take a park or a dead letter, or the
dead-letter limit refuses one, the bridge stops (``engine/halt.py``) and the
event stays unfinished, so no commit passes it.
"""

from __future__ import annotations

import logging
from enum import Enum

from kafkahooks.decode import DecodeError
from kafkahooks.delivery import (
    DeadLetterWriteError,
    DeliveryReport,
    EndpointBackloggedError,
    EndpointDeletedError,
    RetryableDeliveryError,
    Route,
    RouteDisabledError,
)
from kafkahooks.engine.deadletter import DeadLetter, DeadLettering, dead_letter
from kafkahooks.engine.finish import Finish
from kafkahooks.engine.halt import Halt
from kafkahooks.engine.parking import park_headers
from kafkahooks.engine.scheduler import Scheduler
from kafkahooks.engine.stats import Stats
from kafkahooks.event import Event
from kafkahooks.kafka import AckedProducer, ProduceError, TopicPartitionKey
from kafkahooks.telemetry import METRICS, route_metrics
from kafkahooks.templating import RenderContext

__all__ = ["Outcome", "Settle", "outcome", "park_tier"]

log = logging.getLogger("kafkahooks.pipeline")


class Outcome(Enum):
    DELIVERED = "delivered"
    PARKED = "parked"
    ENDPOINT_DELETED = "endpoint_deleted"
    DEAD_LETTERED = "dead_lettered"


def outcome(route: Route, report: DeliveryReport, tier: int, size: int, parks: bool) -> Outcome:
    """What a delivery of ``size`` events of ``route`` (tried on retry ``tier``, 0: from
    the source) comes to.  ``parks``: this member can write retry topics."""
    if report.delivered:
        return Outcome.DELIVERED
    if isinstance(report.error, EndpointDeletedError):
        return Outcome.ENDPOINT_DELETED
    schedule = route.config.retry_topics
    if schedule is None or size != 1 or not parks:
        return Outcome.DEAD_LETTERED
    error = report.error
    if isinstance(error, EndpointBackloggedError):
        return Outcome.PARKED  # nothing was tried: no tier is used up
    if isinstance(error, RetryableDeliveryError) and tier < len(schedule.delays):
        return Outcome.PARKED
    return Outcome.DEAD_LETTERED


def park_tier(report: DeliveryReport, tier: int) -> int:
    """The retry tier a parked delivery goes to: the next one after a failed attempt,
    the one it is on (at least the first) when nothing was tried."""
    if isinstance(report.error, EndpointBackloggedError):
        return max(tier, 1)
    return tier + 1


def _endpoint(ctx: RenderContext) -> dict[str, str]:
    """A log line's ``endpoint_id`` field, for a customer endpoint's delivery."""
    return {} if ctx.endpoint_id is None else {"endpoint_id": ctx.endpoint_id}


class Settle:
    def __init__(
        self,
        stats: Stats,
        finish: Finish,
        dead_letters: DeadLettering,
        scheduler: Scheduler,
        halt: Halt,
        producer: AckedProducer | None,
    ) -> None:
        self._stats = stats
        self._finish = finish
        self._dead_letters = dead_letters
        self._scheduler = scheduler
        self._halt = halt
        self._producer = producer  # the main cluster's: parks events on retry topics

    # -- after a delivery ---------------------------------------------------
    async def settle(
        self,
        route: Route,
        ctxs: list[RenderContext],
        report: DeliveryReport,
        tier: int = 0,
        retried: Event | None = None,
    ) -> None:
        """Carry out the outcome of delivering ``ctxs`` (one event, or a batch), then finish
        each event's share, or the retry-topic record ``retried`` of a parked event."""
        if ctxs[0].endpoint_id is None:  # one customer's 410 must not disable the route
            route.state.observe(route.name, report)  # 410 Gone disables the route
        decided = outcome(route, report, tier, len(ctxs), self._producer is not None)
        if decided is Outcome.DELIVERED:
            first = ctxs[0].event
            self._dead_letters.limit.ok((first.topic, first.partition), len(ctxs))
            self._stats.delivered += len(ctxs)
            self._stats.count(route.name, "delivered", len(ctxs))
            route_metrics(route.name).delivered.inc(len(ctxs))
        elif decided is Outcome.PARKED:
            await self._park(route, ctxs[0], report, park_tier(report, tier))
        elif decided is Outcome.ENDPOINT_DELETED:
            self._endpoint_deleted(route, ctxs[0])
        else:
            for ctx in ctxs:
                await self._dead_letter(route, ctx, report)
        if retried is not None:
            self._finish.event(retried)  # the retry-topic record, not the source event
            return
        for ctx in ctxs:
            self._finish.route_done(ctx.event)

    async def _park(
        self, route: Route, ctx: RenderContext, report: DeliveryReport, tier: int
    ) -> None:
        schedule = route.config.retry_topics
        assert schedule is not None and self._producer is not None and report.error is not None
        topic = schedule.topic(route.name, tier)
        event = ctx.event
        headers = park_headers(
            event,
            route.name,
            tier,
            schedule.delays[tier - 1],
            report.attempts,
            report.error.reason,
            ctx.endpoint_id,
        )
        try:
            await self._producer.send(topic, event.raw_value, event.key, headers)
        except ProduceError as exc:
            # like a failed dead-letter write: never skip the event
            await self._halt.hold(DeadLetterWriteError(f"parking on {topic!r} failed: {exc}"))
        self._stats.count(route.name, "parked")
        METRICS.parked.labels(route.name, str(tier)).inc()
        # a backlogged endpoint parks every event it is sent: one line each would flood
        backlog = isinstance(report.error, EndpointBackloggedError)
        (log.debug if backlog else log.info)(
            "parked for a later retry",
            extra={
                "route": route.name,
                "event_id": ctx.event_id,
                "tier": tier,
                "topic": topic,
                "reason": report.error.reason,
                **_endpoint(ctx),
            },
        )

    def _endpoint_deleted(self, route: Route, ctx: RenderContext) -> None:
        self._stats.count(route.name, "endpoint_deleted")
        METRICS.deliveries.labels(route.name, "endpoint_deleted").inc()
        log.debug(  # one per event: a deleted endpoint's backlog must not flood the log
            "endpoint deleted: its delivery is finished without sending",
            extra={"route": route.name, "event_id": ctx.event_id, **_endpoint(ctx)},
        )

    async def _dead_letter(self, route: Route, ctx: RenderContext, report: DeliveryReport) -> None:
        error = report.error
        assert error is not None
        record = dead_letter(
            ctx.event,
            error,
            route,
            event_id=ctx.event_id,
            report=report,
            endpoint_id=ctx.endpoint_id,
        )
        await self._dead_letters.write(record)
        self._stats.dead_lettered += 1
        self._stats.count(route.name, "dead_lettered")
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
                **_endpoint(ctx),
            },
        )

    # -- without a delivery -------------------------------------------------
    def filtered(self, event: Event) -> None:
        """No route took the event: finished at once."""
        self._stats.filtered += 1
        self._dead_letters.limit.ok((event.topic, event.partition))
        METRICS.deliveries.labels("*", "filtered").inc()
        self._finish.event(event)

    def undecodable(
        self, tp: TopicPartitionKey, event: Event, exc: DecodeError, route: Route | None
    ) -> None:
        """Dead-letter a record that cannot be read: to the source topic's dead-letter
        topic when no route was chosen yet, else to the route's."""
        eid = route.context(event, None).event_id if route else None
        record = dead_letter(event, exc, route, event_id=eid)

        async def run() -> None:
            await self._dead_letters.write(record)
            self._stats.dead_lettered += 1
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
            self._finish.route_done(event)

        self._scheduler.submit(tp, "", "none", None, run)

    def unretryable(self, record: Event, dead: DeadLetter) -> None:
        """Dead-letter a parked record that cannot be retried (``dead``, built by the
        intake); the retry-topic ``record`` is finished once the broker acknowledged it."""
        route_name = dead.route or ""

        async def run() -> None:
            await self._dead_letters.write(dead)
            self._stats.dead_lettered += 1
            self._stats.count(route_name, "dead_lettered")
            METRICS.deliveries.labels(route_name, "dead_lettered").inc()
            METRICS.dead_lettered.labels(route_name, dead.error_class).inc()
            log.warning(
                "parked event dead-lettered",
                extra={
                    "route": route_name,
                    "event_id": dead.event_id,
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "dead_letter_topic": dead.topic,
                    "reason": dead.error_message,
                },
            )
            self._finish.event(record)

        self._scheduler.submit((record.topic, record.partition), "", "none", None, run)
