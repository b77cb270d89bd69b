"""The bridge's recover runner: re-sends one endpoint's dead letters, as a store record asks.

``POST …/endpoints/{id}/recover {since}`` writes a ``recover/<endpoint id>`` record
(``endpoints/recover.py``).  Every bridge replica follows the store; this thread looks at
the jobs held every ``tick`` seconds and claims one that is ``requested`` (or running
but stale: no progress for ``STALE_AFTER`` seconds, its bridge presumably gone) by
writing ``running`` with its writer id under the store's revision rule.  Every claimant
names the offset of the record it saw, so exactly one claim applies; a replica runs the
job only once the store shows *its* claim in force.

Running it: for each active route with ``endpoints:`` that delivers to the endpoint
(its ``routes:`` filter) and parks (``retry_topics``), read the route's dead-letter
topics from ``offsets_for_times(since)``, partition by partition, up to the end of each
as of the start — the partition's end-of-partition event or the first record written
after the job started (by anyone: its own re-sends failing again included), as
``kafkahooks dlq replay`` does (``app/replay.py``) — and re-park each dead letter of this
endpoint (``kafkahooks.endpoint_id``) on the route's first retry topic with
``engine/parking.py``'s headers: the endpoint id and the original source coordinates,
so the normal engine path delivers it to this endpoint only, signed as the endpoint is
now, with its original event id; ``not_before`` is now, so it goes at once.  Progress
(``scanned``, ``resent``) is written every :data:`PROGRESS_EVERY` seconds, after the
re-parked records so far were acknowledged (``acks=all``); then ``done``, or
``failed`` with the reason.
Invariants: a re-park that is not acknowledged makes the job ``failed``, never
``done``; a progress write that loses the revision check (taken over, the endpoint
deleted) stops this runner at once; nothing here logs a URL or a secret.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from kafkahooks.app.deadrecord import DeadRecord
from kafkahooks.config import RouteConfig, RoutesFile
from kafkahooks.endpoints import (
    Endpoint,
    EndpointTable,
    RecoverJob,
    encode_job,
    recover_key,
)
from kafkahooks.engine import park_headers
from kafkahooks.kafka import StoreLog, StoreWriteError, consumer_config, producer_properties

__all__ = ["PROGRESS_EVERY", "RecoverRunner", "recover_routes"]

log = logging.getLogger("kafkahooks.recover")

PROGRESS_EVERY = 2.0  # seconds between progress records (STALE_AFTER is 30 s)
WRITE_TIMEOUT = 15.0
APPLY_TIMEOUT = 15.0
_GROUP = "kafkahooks-recover"  # librdkafka requires one; nothing is committed


def recover_routes(config: RoutesFile, ep: Endpoint) -> list[RouteConfig]:
    """The routes a recover of ``ep`` reads: active, ``endpoints:``, parking, and
    delivering to ``ep`` (its ``routes:`` filter)."""
    return [
        r for r in config.routes
        if r.active and r.endpoints is not None and r.retry_topics is not None
        and (ep.routes is None or r.name in ep.routes)
    ]  # fmt: skip


class _Lost(Exception):
    """This runner's record is no longer the job in force (taken over, or deleted)."""


class RecoverRunner:
    """Claims and runs recover jobs on a daemon thread of its own (one job at a time)."""

    def __init__(
        self,
        config: RoutesFile,
        table: EndpointTable,
        store_log: StoreLog,
        *,
        tick: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.table, self.log = config, table, store_log
        self.writer_id = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.tick, self.clock = tick, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recover", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.run_once()
            except Exception:  # bookkeeping of a side job: logged, never the bridge's end
                log.exception("recover runner failed; it tries again")

    def run_once(self) -> None:
        """Claim and run the first job that wants a runner, if any."""
        now = self.clock()
        for job in self.table.recover_jobs():
            if job.state == "requested" or (job.state == "running" and job.stale(now)):
                # a take-over scans again from `since`: its counts start again too
                claimed = self._write(job, job.with_(
                    state="running", writer=self.writer_id, updated=now, scanned=0, resent=0,
                    started=job.started if job.started is not None else now,
                ))  # fmt: skip
                if claimed is not None:
                    self._execute(claimed)
                return

    # -- the store: conditional writes ------------------------------------------------

    def _write(self, held: RecoverJob, new: RecoverJob) -> RecoverJob | None:
        """Write ``new`` over ``held``; the job as applied when it won, else ``None``."""
        key = recover_key(held.endpoint_id)
        try:
            offset = self.log.write(key, encode_job(new, held.offset), WRITE_TIMEOUT)
        except StoreWriteError as exc:
            log.warning("recover record not written", extra={"endpoint_id": held.endpoint_id,
                                                             "error": str(exc)})  # fmt: skip
            return None
        deadline = time.monotonic() + APPLY_TIMEOUT
        while self.log.applied < offset:
            if time.monotonic() > deadline or self._stop.is_set():
                return None
            time.sleep(0.01)
        now_held = self.table.recover_of(held.endpoint_id)
        return now_held if now_held is not None and now_held.offset == offset else None

    def _progress(self, job: RecoverJob, **changes: Any) -> RecoverJob:
        written = self._write(job, job.with_(updated=self.clock(), **changes))
        if written is None:
            raise _Lost()
        return written

    # -- running one job ----------------------------------------------------------------

    def _execute(self, job: RecoverJob) -> None:
        log.info("recover started", extra={"endpoint_id": job.endpoint_id, "job": job.job})
        try:
            job = self._scan(job)
            job = self._progress(job, state="done", finished=self.clock())
            done = {"scanned": job.scanned, "resent": job.resent}
            log.info("recover done", extra={"endpoint_id": job.endpoint_id, "job": job.job, **done})
        except _Lost:
            log.warning("recover stopped: the job is no longer this replica's",
                        extra={"endpoint_id": job.endpoint_id, "job": job.job})  # fmt: skip
        except (KafkaException, RuntimeError) as exc:
            log.error("recover failed", extra={"endpoint_id": job.endpoint_id, "job": job.job,
                                               "error": str(exc)[:300]})  # fmt: skip
            held = self.table.recover_of(job.endpoint_id)
            if held is not None and held.job == job.job and held.writer == self.writer_id:
                now = self.clock()
                failed = held.with_(state="failed", finished=now, updated=now, error=str(exc)[:300])
                self._write(held, failed)

    def _scan(self, job: RecoverJob) -> RecoverJob:
        ep = self.table.get(job.endpoint_id)
        if ep is None:
            raise _Lost()
        routes = {r.name: r for r in recover_routes(self.config, ep)}
        topics = sorted({r.dead_letter_for(t) for r in routes.values() for t in r.topics})
        kafka = self.config.kafka
        conf = consumer_config(kafka.bootstrap_servers, _GROUP, kafka.properties)
        conf.update({"enable.partition.eof": True, "enable.auto.commit": False})
        consumer = Consumer(conf)
        producer = Producer({**producer_properties(kafka), "acks": "all",
                             "enable.idempotence": True})  # fmt: skip
        failures: list[str] = []
        try:
            open_parts = self._assign(consumer, topics, job.since)
            started_ms = int(self.clock() * 1000)
            scanned, resent, last = job.scanned, job.resent, time.monotonic()
            while open_parts and not self._stop.is_set():
                for message in consumer.consume(200, 0.5):
                    error = message.error()
                    tp = (message.topic() or "", message.partition() or 0)
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            open_parts.discard(tp)
                        continue
                    record = DeadRecord.of(message)
                    if tp not in open_parts:
                        continue
                    if record.timestamp >= started_ms:  # written after the start: not ours
                        open_parts.discard(tp)
                        continue
                    scanned += 1
                    route = routes.get(record.own.get("route") or "")
                    if record.own.get("endpoint_id") != job.endpoint_id or route is None:
                        continue
                    if record.value is None and "value.omitted" in record.own:
                        continue  # oversize when dead-lettered: nothing to send
                    self._repark(producer, route, record, job, failures)
                    resent += 1
                if time.monotonic() - last >= PROGRESS_EVERY:
                    self._acked(producer, failures)
                    job = self._progress(job, scanned=scanned, resent=resent)
                    last = time.monotonic()
            self._acked(producer, failures)
            return job.with_(scanned=scanned, resent=resent)
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer, topics: list[str], since: float) -> set[tuple[str, int]]:
        """Assign every partition of ``topics`` from the offset for ``since``; the
        partitions that have anything to read."""
        wanted: list[TopicPartition] = []
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if meta is None or meta.error is not None:
                continue  # nothing was ever dead-lettered there
            wanted += [TopicPartition(topic, p, int(since * 1000)) for p in sorted(meta.partitions)]
        if not wanted:
            return set()
        found = [tp for tp in consumer.offsets_for_times(wanted, timeout=10) if tp.offset >= 0]
        consumer.assign(found)  # -1: no record at or after `since` in that partition
        return {(tp.topic, tp.partition) for tp in found}

    def _repark(
        self,
        producer: Producer,
        route: RouteConfig,
        record: DeadRecord,
        job: RecoverJob,
        failures: list[str],
    ) -> None:
        assert route.retry_topics is not None
        event = record.source_event()  # its coordinates: the event id is kept
        headers = park_headers(event, route.name, 1, 0.0, 0, f"recover {job.job}", job.endpoint_id)

        def acked(err: Any, _msg: Any) -> None:
            if err is not None:
                failures.append(str(err))

        producer.produce(route.retry_topics.topic(route.name, 1), event.raw_value, event.key,
                         headers=headers, on_delivery=acked)  # fmt: skip
        producer.poll(0)

    @staticmethod
    def _acked(producer: Producer, failures: list[str]) -> None:
        """Every re-park so far acknowledged, or ``RuntimeError`` (the job fails)."""
        left = producer.flush(WRITE_TIMEOUT)
        if left or failures:
            raise RuntimeError(
                f"re-parking not acknowledged ({left} pending, {len(failures)} refused"
                + (f": {failures[0][:200]}" if failures else "")
                + ")"
            )
