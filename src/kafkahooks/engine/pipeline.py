"""The engine of one group member, wired as a chain of steps (after Sentry arroyo's
processing strategies: each step does one thing and hands on to the next)::

    consumer loop  takes records                                     kafka/consumer.py
      │ accept(record)
      ▼
    intake         decode, match routes (fan-out); parked records    engine/intake.py
      ▼
    dispatch       ordering lanes (scheduler.py), batches            engine/dispatch.py
      ▼            (batching.py); a job delivers, then settles
    deliverer      attempts, in-process retries, endpoint gates      delivery/deliverer.py
      ▼
    settle         outcome(): delivered / parked (parking.py) /      engine/settle.py
      ▼            dead-lettered (deadletter.py, dlqlimit.py)
    finish         every route has its outcome → offset tracker      engine/finish.py
      ▼
    commit         the finished prefix (the one place that commits)  kafka/commits.py

    halt           stops the bridge; any step may call it            engine/halt.py

The steps are built once and hold references to the next: per event the chain is
plain method calls, and only the scheduler makes tasks (one per lane or per
unordered delivery).  This class only wires them and is what the consumer loop
calls: ``accept`` per record, ``drain`` when partitions go (arroyo's ``join``),
``fatal`` between polls.

Nothing is finished without an outcome: delivered, filtered out, or
dead-lettered with the broker's acknowledgement (a parked record that can no
longer be retried is dead-lettered too).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from kafkahooks.decode import Decoders
from kafkahooks.delivery import Deliverer, RouteTable
from kafkahooks.engine.deadletter import DeadLettering, DeadLetterWriter
from kafkahooks.engine.dispatch import Dispatch
from kafkahooks.engine.dlqlimit import DeadLetterLimit
from kafkahooks.engine.finish import Finish
from kafkahooks.engine.halt import Halt
from kafkahooks.engine.intake import Intake, RouteSet
from kafkahooks.engine.scheduler import Scheduler
from kafkahooks.engine.settle import Settle
from kafkahooks.engine.stats import Stats
from kafkahooks.event import Event
from kafkahooks.kafka import AckedProducer, OffsetTracker, TopicPartitionKey

__all__ = ["Pipeline"]


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
        self.tracker = tracker
        self.deliverer = deliverer
        self.dead_letter_limit = dead_letter_limit or DeadLetterLimit()
        self.stats = Stats()
        self.halt = Halt()
        self.scheduler = Scheduler(on_error=self.halt.unexpected)
        self.finish = Finish(tracker)
        dead = DeadLettering(dead_letters, self.dead_letter_limit, self.halt)
        settle = Settle(self.stats, self.finish, dead, self.scheduler, self.halt, producer)
        self.dispatch = Dispatch(deliverer, self.scheduler, settle)
        self.batcher = self.dispatch.batcher
        self.intake = Intake(
            routes,
            decoders or Decoders(),
            tracker,
            self.stats,
            self.dispatch,
            settle,
            self.finish,
            self.halt,
        )
        # the consumer loop's call for every record: straight into the first step
        self.accept: Callable[[Event], float | None] = self.intake.accept

    @property
    def fatal(self) -> BaseException | None:
        """Why this member stopped (see ``engine/halt.py``), or ``None`` while it runs."""
        return self.halt.cause

    @property
    def routes(self) -> RouteTable:
        return self.intake.routes

    @property
    def topics(self) -> list[str]:
        """Every topic to subscribe to: source topics, then retry topics."""
        return self.intake.topics

    def prepare_routes(self, routes: RouteTable) -> RouteSet:
        """``routes`` made ready for intake; raises (changing nothing) if they cannot be."""
        return self.intake.prepare_routes(routes)

    def replace_routes(self, routes: RouteTable | RouteSet) -> None:
        """Routes for every record accepted from now on (start-up and hot reload)."""
        self.intake.replace_routes(routes)

    def reset(self, tps: list[TopicPartitionKey]) -> None:
        """These partitions were assigned, revoked or lost: their dead-letter-limit
        counts start again."""
        self.dead_letter_limit.reset(tps)

    def activity(self) -> tuple[int, bool]:
        """Attempts started so far, and whether any delivery is under way (a task
        alive, a batch open): waiting on a receiver is progress, not a stall."""
        return self.deliverer.attempts, bool(self.scheduler.busy() or self.batcher.holding())

    async def drain(self, tps: list[TopicPartitionKey], timeout: float) -> bool:
        """Finish what these partitions have taken, up to ``timeout``; cancel the rest.

        Afterwards nothing of these partitions is left here: no task, no lane, no open
        batch, no fan-out or endpoint-queue count, so a partition assigned again starts clean (after
        ``on_lost`` the drain has no time at all, and a batch lane emitted by the flush
        is cancelled before its first step)."""
        self.batcher.flush(tps)
        deadline = time.monotonic() + timeout
        while self.tracker.outstanding_in(tps) and time.monotonic() < deadline:
            if self.halt.cause is not None:
                break
            await asyncio.sleep(0.02)
        clean = self.tracker.outstanding_in(tps) == 0
        await self.scheduler.cancel(tps)
        self.dispatch.forget(tps)
        self.batcher.drop(tps)
        self.finish.forget(tps)
        return clean
