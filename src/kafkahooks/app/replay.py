"""Replay a route's dead letters, through the current config (``kafkahooks dlq replay``,
whose arguments ``cli/dlq.py`` parses).

The dead-letter topic is read with the route's own consumer group
(``kafkahooks-replay-<route>``) from its committed offsets, or from
``--from``, up to the end it had when the replay started.  Each record is
rebuilt as the source event it was (the ``kafkahooks.source.*`` headers),
decoded with the current formats, matched, and delivered by the same code
as the bridge (:class:`~kafkahooks.deliverer.Deliverer`: current template,
current secret, same retries).  It keeps its original event id.  One that
fails again goes back to the route's dead-letter topic with
``kafkahooks.attempts`` increased.

Writes and commits go through one Kafka transaction at a time, with
``transactional.id = kafkahooks-replay-<route>``: the dead letters written
since the last commit and the replay group's offsets are committed together
(every second, and at the end), so a record counts as replayed only once it
was delivered or its new dead letter is committed with its offset.  A second
replay of the same route fences the first at its start
(``init_transactions()``): the first stops at its next write or commit and
exits 1 naming the cause, and the second resumes from the committed offsets,
so two replays never both run to the end, and commits never move backwards
(a position is committed only above the one the group had when this replay
started, even with ``--from``).

Replay keeps the route's ordering: with ``ordering: key`` the events of one
key are sent one at a time in the order they were dead-lettered; with
``partition``, those of one source partition; ``none`` sends freely (up to
16 at once).

Records of other routes are passed over; a record dead-lettered before any
route was chosen (undecodable, oversize) belongs to every route of its
source topic.  An oversize record has no body to replay and is reported.

``--event-id ID`` replays one event: read from the beginning (unless ``--from``),
every other record passed over, and no position committed (the others stay to be
replayed; a later full replay sends this one again: at least once).  ``--endpoint
ID`` does the same for the dead letters of one customer endpoint.

A dead letter of a customer endpoint's delivery (``kafkahooks.endpoint_id``) is
replayed to that endpoint only, as it is now (deleted since: finished as
``endpoint-deleted``, not dead-lettered again), with its original event id.  One of
a route with ``endpoints:`` that names no endpoint (``no-tenant``, undecodable) is
fanned out to its tenant's endpoints as the bridge would.  What a delivery's report
comes to is decided by the bridge's one function, ``outcome()``.  A dry run sends
and commits nothing and its summary says "would replay N", never "replayed N".
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    TopicPartition,
)

from kafkahooks.app.bridge import make_sender
from kafkahooks.app.deadrecord import DeadRecord
from kafkahooks.app.settings import Settings
from kafkahooks.config import RoutesFile
from kafkahooks.decode import Decoders, RegistryUnavailableError, SourcePlan
from kafkahooks.delivery import (
    DeadLetterWriteError,
    Deliverer,
    DeliveryReport,
    NoTenantError,
    Route,
)
from kafkahooks.engine import (
    NO_TENANT,
    FanOut,
    Ordering,
    Outcome,
    Scheduler,
    dead_letter,
    outcome,
)
from kafkahooks.event import Event
from kafkahooks.kafka import (
    OffsetTracker,
    TopicPartitionKey,
    TransactionalCommits,
    TransactionStopped,
    consumer_config,
    producer_properties,
)
from kafkahooks.templating import RenderContext, TemplateError

__all__ = ["DeadRecord", "ReplaySummary", "Replayer", "replay_group"]

log = logging.getLogger("kafkahooks.replay")

_CONCURRENCY = 16
_COMMIT_EVERY = 1.0


def replay_group(route: str) -> str:
    """The replay's consumer group, and its producer's ``transactional.id``."""
    return f"kafkahooks-replay-{route}"


@dataclass
class ReplaySummary:
    read: int = 0  # dead-letter records read
    replayed: int = 0  # records of this route sent again (or, dry run, rendered)
    delivered: int = 0
    failed_again: int = 0
    filtered: int = 0  # no longer taken by the route (event type, filter, tombstone)
    no_body: int = 0  # oversize when dead-lettered: nothing to send
    other_routes: int = 0
    other_events: int = 0  # ``--event-id``/``--endpoint``: this route's, another one's
    endpoint_deleted: int = 0  # its customer endpoint is gone: finished, not dead-lettered
    dry_run: bool = False  # a dry run says what it would do, never that it did it

    def line(self) -> str:
        verb = "would replay" if self.dry_run else "replayed"
        again = "would fail again" if self.dry_run else "failed again"
        others = f", other events {self.other_events}" if self.other_events else ""
        deleted = (
            f", endpoint deleted {self.endpoint_deleted}" if self.endpoint_deleted else ""
        )
        return (f"read {self.read}, {verb} {self.replayed}, delivered {self.delivered}, "
                f"{again} {self.failed_again}, filtered {self.filtered}, "
                f"without body {self.no_body}, other routes {self.other_routes}{others}"
                f"{deleted}")


class Replayer:
    def __init__(
        self, config: RoutesFile, route: Route, settings: Settings, *, dry_run: bool = False,
        out: Any = None, event_id: str | None = None, endpoint_id: str | None = None,
    ) -> None:
        self.config = config
        self.route = route
        self.dry_run = dry_run
        # one event, or one customer endpoint's: read from the beginning, commit no
        # position (the others stay to replay)
        self.event_id = event_id
        self.endpoint_id = endpoint_id
        self.selective = event_id is not None or endpoint_id is not None
        self.fan_out = FanOut()
        self.out = out or sys.stdout
        self.summary = ReplaySummary(dry_run=dry_run)
        self.error: str | None = None
        kafka = config.kafka
        conf = consumer_config(kafka.bootstrap_servers, replay_group(route.name), kafka.properties)
        conf["enable.partition.eof"] = True  # where the end is
        self.consumer = Consumer(conf)
        self.started_ms = 0
        # dead letters and offsets, committed together (none in a dry run)
        self.transactions = (
            None
            if dry_run
            else TransactionalCommits(
                producer_properties(kafka, dead_letters=True), replay_group(route.name),
                f"replay of route {route.name!r}",
            )
        )
        self.sender = make_sender(settings, settings.max_in_flight)
        self.deliverer = Deliverer(self.sender, settings.max_in_flight)
        decoders = Decoders(config.sources, config.schema_registry)
        self.plans: dict[str, SourcePlan[Route]] = {
            t: decoders.plan(t, [route]) for t in route.config.topics
        }
        self.tracker = OffsetTracker()
        # the group's committed position per partition when the replay started: a commit
        # never goes below it (another replay, or this one with --from)
        self.floor: dict[TopicPartitionKey, int] = {}
        self.scheduler = Scheduler(on_error=self._job_failed)
        self._lanes_used: set[TopicPartitionKey] = set()
        self.stopping = False

    # -- where to read ---------------------------------------------------------
    def topics(self) -> list[str]:
        return sorted({self.route.config.dead_letter_for(t) for t in self.route.config.topics})

    def partitions(self, start: int | None) -> dict[TopicPartitionKey, int]:
        """The first offset to read per dead-letter partition (``start``, or the group's)."""
        found: dict[TopicPartitionKey, int] = {}
        for topic in self.topics():
            meta = self.consumer.list_topics(topic, timeout=10).topics.get(topic)
            if meta is None or meta.error is not None:
                continue  # nothing was ever dead-lettered there
            tps = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
            committed = {
                (tp.topic, tp.partition): tp.offset for tp in self.consumer.committed(tps, 10)}
            for tp in tps:
                key = (topic, tp.partition)
                self.floor[key] = max(committed.get(key, -1), -1)
                low, _ = self.consumer.get_watermark_offsets(tp, timeout=10)
                first = start if start is not None else self.floor[key]
                if start is None and self.selective:
                    first = 0  # one event (or endpoint), wherever it is
                found[key] = max(first, low, 0)
        return found

    # -- the loop --------------------------------------------------------------
    async def run(self, start: int | None = None, limit: int | None = None) -> ReplaySummary:
        self.started_ms = int(time.time() * 1000)
        if self.transactions is not None:
            try:  # before reading the committed offsets: an older replay's last commit is in
                await self.transactions.start()
            except TransactionStopped as exc:
                self.error = str(exc)
                await self._close()
                return self.summary
        firsts = await asyncio.to_thread(self.partitions, start)
        where = ", ".join(f"{t}/{p}@{o}" for (t, p), o in sorted(firsts.items())) or "nothing"
        print(f"replay {self.route.name} (group {replay_group(self.route.name)})"
              f"{', dry run' if self.dry_run else ''}: reading {where}",
              file=self.out, flush=True)
        if firsts:
            self.tracker.assign(list(firsts))
            self.consumer.assign([TopicPartition(t, p, o) for (t, p), o in firsts.items()])
            await self._consume(set(firsts), limit)
        await self._close()
        print(f"summary: {self.summary.line()}", file=self.out, flush=True)
        return self.summary

    async def _consume(self, open_parts: set[TopicPartitionKey], limit: int | None) -> None:
        """Up to each partition's end as of the start (its end-of-partition event, or a
        record written after the replay began, maybe by the replay itself)."""
        slots = asyncio.Semaphore(1 if self.dry_run else _CONCURRENCY)
        ordering = self.route.config.ordering
        taken = 0
        last_report = last_commit = time.monotonic()
        while open_parts and not self.stopping and self.error is None:
            for message in await asyncio.to_thread(self.consumer.consume, 100, 0.2):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        open_parts.discard((message.topic() or "", message.partition() or 0))
                    continue
                record = DeadRecord.of(message)
                if record.tp not in open_parts:
                    continue
                if record.timestamp >= self.started_ms:
                    open_parts.discard(record.tp)
                    continue
                mine = self._mine(record)
                if mine and limit is not None and taken >= limit:
                    open_parts.clear()
                    break
                self.tracker.begin(record.tp, record.offset)
                if mine and self._other_event(record):
                    self.summary.read += 1
                    self.summary.other_events += 1
                    self.tracker.finish(record.tp, record.offset)
                    continue
                if not mine:
                    self.summary.read += 1
                    self.summary.other_routes += 1
                    self.tracker.finish(record.tp, record.offset)
                    continue
                taken += 1
                await slots.acquire()
                self._submit(record, ordering, slots)
            now = time.monotonic()
            if now - last_report >= 1:
                last_report = now
                print(f"  progress: {self.summary.line()}", file=self.out, flush=True)
            if not self.dry_run and now - last_commit >= _COMMIT_EVERY:
                last_commit = now
                await self._commit()
        await self._settle_jobs()

    def _submit(self, record: DeadRecord, ordering: Ordering, slots: asyncio.Semaphore) -> None:
        """Send on the route's lanes: one key (or source partition) at a time, in order."""
        source = (record.own.get("source.topic") or record.topic,
                  int(record.own.get("source.partition") or record.partition))
        self._lanes_used.add(source)

        async def job() -> None:
            await self._one(record, slots)

        self.scheduler.submit(source, self.route.name, ordering, record.key, job)

    async def _settle_jobs(self) -> None:
        """Wait for what was sent; after an error, stop it (it is redone next time)."""
        while self.scheduler.busy():
            if self.error is not None:
                await self.scheduler.cancel(sorted(self._lanes_used))
                return
            await asyncio.sleep(0.02)

    async def _one(self, record: DeadRecord, slots: asyncio.Semaphore) -> None:
        try:
            await self._replay(record)
        except (DeadLetterWriteError, RegistryUnavailableError, TransactionStopped) as exc:
            self.error = self.error or str(exc)  # unfinished: the commit stops before it
            return
        finally:
            slots.release()
        self.tracker.finish(record.tp, record.offset)

    def _job_failed(self, exc: BaseException) -> None:
        log.error("replay job failed unexpectedly; stopping", exc_info=exc)
        self.error = self.error or f"{type(exc).__name__}: {exc}"

    def _mine(self, record: DeadRecord) -> bool:
        """This route's dead letter, or one dead-lettered before routing on one of its topics."""
        if record.own.get("route") not in ("", None, self.route.name):
            return False
        return record.own.get("source.topic", record.topic) in self.plans

    def _other_event(self, record: DeadRecord) -> bool:
        """Passed over: another event's (``--event-id``) or endpoint's (``--endpoint``)."""
        own = record.own
        if self.event_id is not None and own.get("event_id") != self.event_id:
            return True
        return self.endpoint_id is not None and own.get("endpoint_id") != self.endpoint_id

    async def _replay(self, record: DeadRecord) -> None:
        self.summary.read += 1
        own = record.own
        event = record.source_event()
        plan = self.plans[event.topic]
        if event.raw_value is None and "value.omitted" in own:
            self.summary.no_body += 1
            print(f"  no body to replay (oversize): {event.topic}/{event.partition}"
                  f"@{event.offset}; re-produce it from the source", file=self.out)
            return
        self.summary.replayed += 1
        attempts = int(own.get("attempts") or 0)
        reading = plan.read(event)
        if reading.failures:
            error = reading.failures[0][0]
            await self._fail(event, None, error, attempts, own.get("event_id"))
            return
        view = reading.views[0][0] if reading.views else None
        matched, etype = self.route.match(view) if view is not None else (False, None)
        if view is None or not matched:
            self.summary.filtered += 1
            return
        ctx = self.route.context(view, etype)
        ctx.event_id = own.get("event_id") or ctx.event_id  # the id it was first sent with
        ctx.endpoint_id = own.get("endpoint_id") or None  # to that endpoint only
        if self.route.tenant is None or ctx.endpoint_id is not None:
            await self._send(ctx, attempts)
            return
        fanned = self.fan_out.contexts(self.route, ctx)  # no endpoint named: as the bridge
        if fanned is NO_TENANT:
            await self._fail(event, None, NoTenantError(), attempts, ctx.event_id)
            return
        if not fanned:
            self.summary.filtered += 1
        for each in fanned if isinstance(fanned, list) else ():
            await self._send(each, attempts)

    def _target(self, ctx: RenderContext) -> str:
        """Where ``ctx`` goes, as a dry run prints it (no secret, no customer URL path)."""
        if ctx.endpoint_id is not None:
            return f"POST endpoint {ctx.endpoint_id}"
        endpoint = self.route.config.target
        return f"{endpoint.method} {endpoint.shown_url}"

    async def _send(self, ctx: RenderContext, attempts: int) -> None:
        if self.dry_run:
            try:
                body = self.route.render_body(ctx)
            except (TemplateError, ValueError) as exc:
                await self._fail(ctx.event, None, exc, attempts, ctx.event_id, ctx.endpoint_id)
                return
            print(f"  would send {ctx.event_id} ({ctx.event.topic}/{ctx.event.partition}"
                  f"@{ctx.event.offset}) → {self._target(ctx)}, "
                  f"{len(body)} bytes",
                  file=self.out)
            return
        report = await self.deliverer.deliver(self.route, ctx)
        decided = outcome(self.route, report, 0, 1, parks=False)
        if decided is Outcome.DELIVERED:
            self.summary.delivered += 1
            return
        if decided is Outcome.ENDPOINT_DELETED:
            self.summary.endpoint_deleted += 1
            print(f"  endpoint {ctx.endpoint_id} was deleted: {ctx.event_id} is finished "
                  f"without sending", file=self.out)
            return
        await self._fail(
            ctx.event, report, report.error, attempts, ctx.event_id, ctx.endpoint_id
        )

    async def _fail(self, event: Event, report: DeliveryReport | None, error: Exception | None,
                    attempts: int, event_id: str | None, endpoint_id: str | None = None) -> None:
        self.summary.failed_again += 1
        assert error is not None
        if self.transactions is None:  # dry run
            reason = getattr(error, "reason", None) or str(error)
            print(f"  would fail again: {event.topic}/{event.partition}@{event.offset}: "
                  f"{type(error).__name__}: {reason}", file=self.out)
            return
        record = dead_letter(
            event,
            error,
            self.route,
            event_id=event_id or self.route.context(event, None).event_id,
            report=report,
            attempts=attempts + max(1, report.attempts if report else 0),  # a replay is one
            endpoint_id=endpoint_id,
        )
        await self.transactions.write(
            record.topic, record.value, record.event.key, record.headers()
        )

    # -- end -------------------------------------------------------------------
    async def _commit(self, *, final: bool = False) -> None:
        """Commit the open transaction: the dead letters written since the last commit
        and every position above the floor (sent each time, so a fenced replay finds out
        at once)."""
        if self.transactions is None or self.error is not None:
            return
        positions = {tp: position for tp, position in self.tracker.positions(force=True).items()
                     if position > self.floor.get(tp, -1) and not self.selective}
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        try:
            await self.transactions.commit(
                offsets, self.consumer.consumer_group_metadata(), again=not final)
        except TransactionStopped as exc:
            self.error = str(exc)
            return
        if offsets:
            await asyncio.to_thread(self.transactions.confirm_applied, self.consumer, offsets)
        self.tracker.mark_committed(positions)

    async def _close(self) -> None:
        await self._commit(final=True)
        await asyncio.to_thread(self.consumer.close)
        await self.sender.aclose()
        if self.transactions is not None:
            await asyncio.to_thread(self.transactions.close)
