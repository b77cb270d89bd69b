"""Schedule and deliver: each (route, event) the intake matched goes on its ordering lane
(``engine/scheduler.py``) or into a batch (``engine/batching.py``); its job delivers it
and hands the report to settle.

A job is one closure per delivery (or batch), run as the scheduler runs it; this step
adds no object or task of its own.  A parked event's next try leaves its key's lane:
it is retried in any order, and settling it finishes its retry-topic record.

A delivery to a customer endpoint has lanes of that endpoint (route, endpoint,
partition, key): one endpoint's retries never hold back another's.  A delivery
that failed before it began (``fail``: no tenant) is settled like any other.

A customer endpoint holds at most its route's ``endpoints.endpoint_queue``
deliveries here (waiting on a lane, trying, backing off); beyond that, on a route
that can park, the next one is parked at once (``endpoint-queue-full``), so one
customer's slow or failing endpoint holds a bounded share of the window.  One that
arrives while the endpoint's circuit is open (no probe due) or its rate limit is far
off is parked at once too; those already queued are parked when their turn comes
(after the attempt ahead of them on their lane, at most one request timeout).  The
counts are per (partition, endpoint) too, so a drain that cancels a partition's
jobs before they ran (``forget``) leaves no count behind.  A job holds its partition's
counts themselves, so its end takes its count back without looking the partition up
(1,300 instructions per event less, ``bench/tenant_path.py`` under callgrind).

The counts are plain dicts (a ``Counter`` looks a missing key up through Python-level
``__missing__``), and a counted delivery is one coroutine that delivers, settles and
gives its count back: wrapping the delivery's job in a counting one made a second
coroutine per event, on the tenant route only (cProfile of ``bench/endpoints.py``:
this module cost ~0.4 s of 20,000 events more than on the static route).
"""

from __future__ import annotations

from kafkahooks.delivery import (
    Deliverer,
    DeliveryError,
    DeliveryReport,
    EndpointBackloggedError,
    Route,
)
from kafkahooks.engine.batching import Batcher, batch_lane
from kafkahooks.engine.scheduler import Job, Scheduler
from kafkahooks.engine.settle import Settle
from kafkahooks.event import Event
from kafkahooks.kafka import TopicPartitionKey
from kafkahooks.templating import RenderContext

__all__ = ["Dispatch"]


class Dispatch:
    def __init__(self, deliverer: Deliverer, scheduler: Scheduler, settle: Settle) -> None:
        self.deliverer = deliverer
        self.scheduler = scheduler
        self.settle = settle
        self.batcher = Batcher(self._submit_batch)
        self._held: dict[str, int] = {}  # endpoint id -> its deliveries here
        self._held_in: dict[TopicPartitionKey, dict[str, int]] = {}

    def held(self, endpoint_id: str) -> int:
        """Deliveries of one customer endpoint in this process (waiting or trying)."""
        return self._held.get(endpoint_id, 0)

    def forget(self, tps: list[TopicPartitionKey]) -> None:
        """These partitions' jobs were cancelled: their endpoints' counts go with them
        (a job that started took its own count back as it was cancelled)."""
        for tp in tps:
            counts = self._held_in.pop(tp, {})
            for endpoint_id, n in counts.items():
                _take(self._held, endpoint_id, n)
            counts.clear()  # a job of these partitions that ends later finds no count

    def submit(self, tp: TopicPartitionKey, route: Route, ctx: RenderContext) -> None:
        """Deliver ``ctx`` on ``route``: on its lane, or in the route's next batch."""
        if route.config.batch is not None:
            self.batcher.add(tp, route, ctx)
            return
        event = ctx.event
        endpoint_id = ctx.endpoint_id
        if endpoint_id is None:
            job = self._job(route, ctx)
            self.scheduler.submit(tp, route.name, route.config.ordering, event.key, job)
            return
        queue = route.endpoint_queue
        if queue is not None and (why := self._backlog(queue, endpoint_id)) is not None:
            self.fail(tp, route, ctx, EndpointBackloggedError(why))
            return
        job = self._held_job(tp, endpoint_id, route, ctx)
        lane = f"{route.name}\x00{endpoint_id}"
        self.scheduler.submit(tp, lane, route.config.ordering, event.key, job)

    def _backlog(self, queue: int, endpoint_id: str) -> str | None:
        """Why a customer endpoint's delivery is parked at once rather than queued here (on
        a route that parks, whose ``endpoint_queue`` is ``queue``): its queue is full, or
        its circuit is open (no probe due) or its rate limit far off, so an event arriving
        while it is down never waits on a lane (``None``: queue it)."""
        if self._held.get(endpoint_id, 0) >= queue:
            return "endpoint-queue-full"
        return self.deliverer.gates.backlog_of(endpoint_id)

    def _held_job(
        self,
        tp: TopicPartitionKey,
        endpoint_id: str,
        route: Route,
        ctx: RenderContext,
        tier: int = 0,
        retried: Event | None = None,
    ) -> Job:
        """The delivery's job (as ``_job``), counted in its endpoint's queue from now until
        it ends: one coroutine (module doc)."""
        held = self._held
        held[endpoint_id] = held.get(endpoint_id, 0) + 1
        # the partition's counts themselves, not the partition: the job's end finds them
        # without a look-up, and ``forget`` empties them when it takes them
        counts = self._held_in.get(tp)
        if counts is None:
            counts = self._held_in[tp] = {}
        counts[endpoint_id] = counts.get(endpoint_id, 0) + 1

        async def run() -> None:
            try:
                report = await self.deliverer.deliver(route, ctx)
                await self.settle.settle(route, [ctx], report, tier, retried)
            finally:
                # its count goes, unless ``forget`` took it already
                if _take(counts, endpoint_id):
                    _take(held, endpoint_id)

        return run

    def fail(
        self, tp: TopicPartitionKey, route: Route, ctx: RenderContext, error: DeliveryError
    ) -> None:
        """Settle ``ctx`` on ``route`` as failed with ``error``, without a delivery."""

        self.scheduler.submit(tp, route.name, "none", None, self._settled_job(route, ctx, error))

    def _settled_job(
        self,
        route: Route,
        ctx: RenderContext,
        error: DeliveryError,
        tier: int = 0,
        retried: Event | None = None,
    ) -> Job:
        async def run() -> None:
            report = DeliveryReport(0, error.status, error)
            await self.settle.settle(route, [ctx], report, tier, retried)

        return run

    def retry(self, record: Event, route: Route, ctx: RenderContext, tier: int) -> None:
        """Try a parked event again (``record``: its retry-topic record, on ``tier``)."""
        tp = (record.topic, record.partition)
        endpoint_id, queue = ctx.endpoint_id, route.endpoint_queue
        if endpoint_id is None:
            job = self._job(route, ctx, tier, record)
        elif queue is not None and (why := self._backlog(queue, endpoint_id)) is not None:
            job = self._settled_job(route, ctx, EndpointBackloggedError(why), tier, record)
        else:
            job = self._held_job(tp, endpoint_id, route, ctx, tier, record)
        # parked events have left their key's lane: they are retried in any order
        self.scheduler.submit(tp, route.name, "none", None, job)

    def _job(
        self, route: Route, ctx: RenderContext, tier: int = 0, retried: Event | None = None
    ) -> Job:
        async def run() -> None:
            report = await self.deliverer.deliver(route, ctx)
            await self.settle.settle(route, [ctx], report, tier, retried)

        return run

    def _submit_batch(self, tp: TopicPartitionKey, route: Route, ctxs: list[RenderContext]) -> None:
        async def run() -> None:
            report = await self.deliverer.deliver_batch(route, ctxs)
            await self.settle.settle(route, ctxs, report)

        # one batch in flight per lane; a key always maps to one lane, so its order holds
        lane = str(batch_lane(route, ctxs[0].event)).encode()
        self.scheduler.submit(tp, route.name, "key", lane, run)


def _take(counts: dict[str, int], key: str, n: int = 1) -> int:
    """Take ``n`` from ``key``'s count (a count at zero goes); what it held before (0:
    nothing, and as with ``Counter`` a missing key is no error)."""
    held = counts.pop(key, 0)
    if held > n:
        counts[key] = held - n
    return held
