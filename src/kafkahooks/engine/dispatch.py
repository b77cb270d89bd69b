"""Schedule and deliver: each (route, event) the intake matched goes on its ordering lane
(``engine/scheduler.py``) or into a batch (``engine/batching.py``); its job delivers it
and hands the report to settle.

A job is one closure per delivery (or batch), run as the scheduler runs it; this step
adds no object or task of its own.  A parked event's next try leaves its key's lane:
it is retried in any order, and settling it finishes its retry-topic record.

A delivery to a customer endpoint has lanes of that endpoint (route, endpoint,
partition, key): one endpoint's retries never hold back another's.  A delivery
that failed before it began (``fail``: no tenant) is settled like any other.
"""

from __future__ import annotations

from kafkahooks.delivery import Deliverer, DeliveryError, DeliveryReport, Route
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

    def submit(self, tp: TopicPartitionKey, route: Route, ctx: RenderContext) -> None:
        """Deliver ``ctx`` on ``route``: on its lane, or in the route's next batch."""
        if route.config.batch is not None:
            self.batcher.add(tp, route, ctx)
            return
        event = ctx.event
        job = self._job(route, ctx)
        lane = route.name if ctx.endpoint_id is None else f"{route.name}\x00{ctx.endpoint_id}"
        self.scheduler.submit(tp, lane, route.config.ordering, event.key, job)

    def fail(
        self, tp: TopicPartitionKey, route: Route, ctx: RenderContext, error: DeliveryError
    ) -> None:
        """Settle ``ctx`` on ``route`` as failed with ``error``, without a delivery."""

        async def run() -> None:
            await self.settle.settle(route, [ctx], DeliveryReport(0, error.status, error))

        self.scheduler.submit(tp, route.name, "none", None, run)

    def retry(self, record: Event, route: Route, ctx: RenderContext, tier: int) -> None:
        """Try a parked event again (``record``: its retry-topic record, on ``tier``)."""
        job = self._job(route, ctx, tier, record)
        # parked events have left their key's lane: they are retried in any order
        self.scheduler.submit((record.topic, record.partition), route.name, "none", None, job)

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
