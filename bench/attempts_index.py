"""The API's attempts read model at the issue's size: 1,000,000 delivery-log records over
10,000 endpoints (issue 17: attempts for the busiest endpoint ≤ 200 ms, the index's RSS
≤ 300 MB, start-up time printed).

Starts the embedded test broker, writes the records to an 8-partition delivery-log topic
as bridges would (``AttemptRecord`` JSON keyed by endpoint id, spread over the last 24 h;
one endpoint takes 10 % of them, the other 9,999 share the rest, 5 % of attempts fail),
then a fresh process — the API replica's part — catches up over the log
(``open_endpoint_attempts``), and the busiest endpoint is queried::

    PYTHONPATH=src .venv/bin/python bench/attempts_index.py [records] [endpoints]

Printed: the load time, the catch-up time (start-up), the replica's RSS before and after
(what the index adds), per-query latency p50/p99 for the busiest endpoint (newest 50,
newest 1,000, failures only, stats) and for a ``since`` that the ring of 1,000 cannot
answer (a log read of that endpoint's partition).  The test broker answers
``offsets_for_times`` by append time (DESIGN facts), so that log read here scans the
whole partition: Apache Kafka would start it at the offset for ``since``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
import statistics
import subprocess
import sys
import time
from typing import Any

PARTITIONS = 8
HOUR = 3600.0


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _endpoint(i: int) -> str:
    return f"ep_01J{i:023d}"


def _load(bootstrap: str, topic: str, records: int, endpoints: int) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    from kafkahooks.kafka import AttemptRecord

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        future.result(15)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.num.messages": 10_000,
         "queue.buffering.max.messages": 500_000, "acks": "all"}
    )  # fmt: skip
    rng = random.Random(17)
    now = time.time()
    started = time.perf_counter()
    for n in range(records):
        ep = 0 if n % 10 == 0 else 1 + rng.randrange(endpoints - 1)  # the busiest: 10 %
        failed = rng.random() < 0.05
        status = rng.choice((500, 503, 404)) if failed else 200
        record = AttemptRecord(
            "evt_" + hashlib.sha256(n.to_bytes(8, "big")).hexdigest()[:32],
            "calls",
            rng.randint(2, 5) if failed else 1,
            status,
            round(rng.lognormvariate(4.0, 0.6), 2),  # ~55 ms median
            f"HTTP {status}" if failed else None,
            now - 24 * HOUR * (1 - n / records),  # in time order over the last 24 h
            '{"error":"busy"}' if failed else None,
            _endpoint(ep),
            rng.choice(("call.ended", "call.started", "call.missed", "sms.received")),
        )
        while True:
            try:
                producer.produce(topic, record.encode(), record.key())
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("the records were not all acknowledged")
    elapsed = time.perf_counter() - started
    print(f"loaded {records:,} records over {endpoints:,} endpoints into {PARTITIONS} "
          f"partitions in {elapsed:.1f} s ({records / elapsed:,.0f}/s)")  # fmt: skip


def _timed(call: Any, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def _replica(bootstrap: str, topic: str) -> None:
    """The API replica's part, in a fresh process: catch up, measure, query."""
    from kafkahooks.api.attemptlog import open_endpoint_attempts
    from kafkahooks.api.attempts import StatusFilter

    gc.collect()
    baseline = _rss_mb()
    cpu = time.process_time()  # every thread's: librdkafka's fetching too
    model = open_endpoint_attempts({"bootstrap.servers": bootstrap}, topic, timeout=600)
    cpu = time.process_time() - cpu
    load = model.load
    gc.collect()
    loaded = _rss_mb()
    index = model.index
    print(f"start-up (catch-up over the log): {load.records:,} records in {load.seconds:.1f} s "
          f"({load.records / load.seconds:,.0f}/s; {cpu:.1f} s CPU in this process, "
          f"{cpu / load.records * 1e6:.1f} µs a record), {len(index):,} endpoints, "
          f"{index.added:,} attempts taken, {index.kept():,} kept")  # fmt: skip
    print(f"RSS: {baseline:.0f} MB after imports, {loaded:.0f} MB with the index "
          f"(the index and follower add {loaded - baseline:.0f} MB)")  # fmt: skip
    busiest = _endpoint(0)
    failed = StatusFilter.parse("failed")
    rows = [
        ("attempts, newest 50", lambda: model.attempts(busiest), 500),
        ("attempts, newest 1,000", lambda: model.attempts(busiest, limit=1000), 200),
        ("attempts, failed only", lambda: model.attempts(busiest, status=failed), 500),
        ("stats (24 h)", lambda: model.stats(busiest), 500),
    ]
    for name, call, runs in rows:
        p50, p99 = _timed(call, runs)
        print(f"busiest endpoint, {name:<24} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  ({runs} runs)")
    # every failure of the last 12 h: more than the ring of 1,000 holds, so the log
    since = time.time() - 12 * HOUR
    page = model.attempts(busiest, status=failed, since=since, limit=1000, timeout=30)
    assert page.source == "log", page.source
    p50, p99 = _timed(
        lambda: model.attempts(busiest, status=failed, since=since, limit=1000, timeout=30), 5
    )
    read = model.follower.read_endpoint(busiest, since, limit=1000, timeout=30)
    print(
        f"busiest endpoint, failed since 12 h (log) p50 {p50:7.0f} ms  p99 {p99:7.0f} ms  "
        f"(5 runs; {len(page.attempts)} found, {read.scanned:,} records of its partition "
        f"read, complete={page.complete})"
    )
    stats = model.stats(busiest)
    assert stats.p50 is not None and stats.p99 is not None
    print(
        f"stats of the busiest: {stats.attempts:,} attempts, {stats.failures:,} failures, "
        f"p50 ≈ {stats.p50.estimate_ms} ms ({stats.p50.low_ms} to {stats.p50.high_ms}), "
        f"p99 ≈ {stats.p99.estimate_ms} ms ({stats.p99.low_ms} to {stats.p99.high_ms})"
    )
    print(json.dumps({"startup_s": round(load.seconds, 2), "startup_cpu_s": round(cpu, 2),
                      "rss_mb": round(loaded),
                      "index_mb": round(loaded - baseline)}))  # fmt: skip
    model.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--replica":
        _replica(sys.argv[2], sys.argv[3])
        return
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    endpoints = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    from kafkahooks.demo.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        topic = "kafkahooks.deliveries"
        _load(broker.bootstrap, topic, records, endpoints)
        subprocess.run([sys.executable, __file__, "--replica", broker.bootstrap, topic], check=True)


if __name__ == "__main__":
    main()
