"""Hostile receivers next to a healthy route on the same topic: every way an
attacker-controlled endpoint can answer ends in that event's own outcome, never the
bridge's.

One bridge process runs one route per hostile case (each to its own port of
``tests/support/hostile.py``) and one healthy route to a fast loopback receiver, all on one
topic.  Each case gets its own event type, so a hostile route sees only its probe events
while the healthy route sees every event.  Required, and printed per case:

* the process stops only on the final SIGTERM (exit 0; it was alive throughout);
* its RSS never exceeds the RSS before the hostile traffic + 64 MiB;
* the healthy route gets every event, with p99 latency (produce → arrival) at most 2x its
  p99 in a baseline run of the same stream without the hostile routes;
* each case ends in the outcome and reason of the table in ``docs/hostile-receivers.md``,
  read from the dead-letter topic's ``kafkahooks.*`` headers and the server's own log.

Everything listens on 127.0.0.1; retries are short (3 attempts, ≤ 0.3 s backoff, 2 s
timeout), so the slowest case ends within ~8 s of its probe and the test within ~1 min.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from tests.faults.fleet import Start
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.hostile import CASES, HostileServer
from tests.support.kafka import GROUP_TIMINGS, committed, create_topic, headers_of, unique
from tests.support.procfs import rss_kib
from tests.support.receiver import Receiver, Request

MAX_ATTEMPTS = 3
TIMEOUT = 2.0  # seconds, every hostile route
RETRY_AFTER_CAP = 1.0  # seconds: a far-future Retry-After date waits exactly this long
# Where the receiver's Retry-After would read as 2 or 12 seconds if it were taken as a
# number, a cap this high lets that show next to the normal 0.1-0.3 s backoff.
LOOSE_CAP = 30.0
TICKS, RATE = 300, 30.0  # healthy events per phase, produced at RATE per second
RSS_MARGIN_KIB = 64 * 1024
# The test broker answers a fetch only when its wait ends, so this wait is most of a healthy
# event's latency: short enough that a stall of the bridge's loop would show in the p99, long
# enough that the scheduling noise of a shared machine does not.
FETCH_WAIT_MS = 100
RETRIED, AT_ONCE, DELIVERED = "retried then dead-lettered", "dead-lettered at once", "delivered"
PROBE_BASE = 100_000  # probe event ids: PROBE_BASE + n


@dataclass(frozen=True)
class Expected:
    """What one case must end in, as the dead-letter headers say it."""

    outcome: str
    error_class: str
    statuses: tuple[str, ...]  # accepted ``kafkahooks.http.status`` values ("" = none)
    reasons: tuple[str, ...] = ()  # ``error.message`` contains one of these (lower case)
    retry_after_cap: float = RETRY_AFTER_CAP


RETRYABLE = "RetryableDeliveryError"
EXPECTED: dict[str, Expected] = {
    "retry_after_huge_year": Expected(RETRIED, RETRYABLE, ("503",), ("503",)),
    "retry_after_superscript": Expected(RETRIED, RETRYABLE, ("503",), ("503",), LOOSE_CAP),
    "retry_after_arabic_digits": Expected(RETRIED, RETRYABLE, ("503",), ("503",), LOOSE_CAP),
    "header_flood_64mib": Expected(RETRIED, RETRYABLE, ("",), ("head",)),
    "header_flood_10000_fields": Expected(RETRIED, RETRYABLE, ("",), ("head",)),
    "header_flood_1mib_field": Expected(RETRIED, RETRYABLE, ("",), ("head",)),
    "desync_503_then_200": Expected(RETRIED, RETRYABLE, ("503",), ("503",)),
    # its first probe is answered 200 and delivered; this is the second probe's outcome
    "idle_bytes": Expected(RETRIED, RETRYABLE, ("503",), ("503",)),
    "trickle": Expected(RETRIED, RETRYABLE, ("",), ("timeout",)),
    "endless_body": Expected(RETRIED, RETRYABLE, ("",), ("timeout", "body", "limit", "large")),
    # the 503 is read, or the close is seen first: retryable either way
    "early_answer": Expected(RETRIED, RETRYABLE, ("503", ""), ("503", "connection", "closed")),
    "switching_protocols": Expected(AT_ONCE, "PermanentDeliveryError", ("101", ""), ("upgrade",)),
    "continue_then_503": Expected(RETRIED, RETRYABLE, ("503",), ("503",)),
    "early_hints_then_503": Expected(RETRIED, RETRYABLE, ("503",), ("503",)),
    "cut_short": Expected(RETRIED, RETRYABLE, ("",)),
}
assert set(EXPECTED) == set(CASES)


def _hostile_route(case: str, topic: str, url: str) -> dict[str, Any]:
    return simple_route(
        case,
        topic,
        url,
        events=[case],
        endpoint={"url": url, "timeout": TIMEOUT},
        retry={
            "max_attempts": MAX_ATTEMPTS,
            "initial_backoff": 0.1,
            "max_backoff": 0.3,
            "jitter": 0.05,
            "retry_after_cap": EXPECTED[case].retry_after_cap,
        },
    )


def _config(tmp: Path, name: str, bootstrap: str, routes: list[dict[str, Any]]) -> tuple[Path, str]:
    group = unique("g")
    properties = {"fetch.wait.max.ms": FETCH_WAIT_MS}
    return routes_file(tmp / f"{name}.yaml", bootstrap, group, routes, properties), group


class Stream:
    """Produces events one at a time and remembers when each was handed to the producer."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.sent: dict[int, float] = {}
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})

    def send(self, ident: int, event: str, key: str) -> None:
        value = json.dumps({"event": event, "id": ident, "status": "s"})
        self.sent[ident] = time.time()
        self._producer.produce(self.topic, key=key, value=value)
        self._producer.poll(0)

    def ticks(self, first: int, n: int, rate: float, between: Callable[[], None]) -> float:
        """``n`` healthy events at ``rate`` per second, calling ``between`` before each;
        returns the seconds it took."""
        began = time.monotonic()
        for i in range(n):
            pause = began + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            between()
            self.send(first + i, "tick", f"tick-{i % 20}")
        self.flush()
        return time.monotonic() - began

    def flush(self) -> None:
        assert self._producer.flush(15) == 0, "produce did not complete"


def _arrivals(receiver: Receiver) -> dict[int, float]:
    """First arrival time of each event id at a receiver."""
    with receiver.lock:
        return _first_arrivals(list(receiver.requests))


def _first_arrivals(requests: list[Request]) -> dict[int, float]:
    out: dict[int, float] = {}
    for request in requests:
        out.setdefault(int(request.json()["id"]), request.at)
    return out


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.inf
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _figures(latencies: list[float]) -> str:
    ms = [1000 * v for v in latencies]
    return " ".join(
        f"{name}={_quantile(ms, q):.1f}"
        for name, q in (("p50_ms", 0.5), ("p99_ms", 0.99), ("max_ms", 1.0))
    )


def _latencies(stream: Stream, receiver: Receiver, ids: range) -> list[float]:
    arrived = _arrivals(receiver)
    return [arrived[i] - stream.sent[i] for i in ids if i in arrived]


def _started(start: Start, config: Path, receiver: Receiver, stream: Stream) -> BridgeProcess:
    """A bridge that delivered one warm-up event: joined, assigned, connections made."""
    bridge = start(config)
    stream.send(-1, "warmup", "warmup")
    stream.flush()
    receiver.wait_for(lambda reqs: any(r.json()["id"] == -1 for r in reqs), timeout=60)
    return bridge


class Watch(threading.Thread):
    """Samples the bridge's RSS every 0.1 s and notices if it stops: exits, or logs that
    it is stopping (the drain that follows may take a while)."""

    def __init__(self, bridge: BridgeProcess) -> None:
        super().__init__(daemon=True)
        self.bridge = bridge
        self.peak_kib = 0
        self.died_at: float | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            if not self.bridge.alive() or '"msg": "stopping"' in self.bridge.output():
                self.died_at = time.time()
                return
            try:
                self.peak_kib = max(self.peak_kib, rss_kib(self.bridge.proc.pid))
            except (OSError, AssertionError):  # exited between the two looks
                continue
            self.stopping.wait(0.1)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


class DeadLetters:
    """Reads a dead-letter topic as records arrive: ``(route, event id) -> headers``."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.seen: dict[tuple[str, int], dict[str, str]] = {}
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": unique("reader"),
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                **GROUP_TIMINGS,
                # the topic appears with its first record
                "topic.metadata.refresh.interval.ms": 500,
            }
        )
        self._consumer.subscribe([topic])

    def read(self, wait: float = 0.2) -> None:
        for message in self._consumer.consume(100, wait):
            if message.error() is None:
                h = headers_of(message)
                ident = int(json.loads(message.value() or b"")["id"])
                self.seen[(h.get("kafkahooks.route", ""), ident)] = h

    def close(self) -> None:
        self._consumer.close()


@dataclass
class Row:
    case: str
    outcome: str
    error_class: str = ""
    status: str = ""
    attempts: str = ""
    message: str = ""
    notes: str = ""
    problems: tuple[str, ...] = ()

    def line(self) -> str:
        verdict = "ok" if not self.problems else "FAIL: " + "; ".join(self.problems)
        return (
            f"  {self.case:<26} {self.outcome:<27} class={self.error_class or '-'} "
            f"status={self.status or '-'} attempts={self.attempts or '-'} "
            f"message={self.message[:60]!r} {self.notes} -> {verdict}"
        )


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[HostileServer]:
    server = HostileServer(list(CASES), tmp_path / "hostile.jsonl")
    yield server
    server.close()


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    baseline, healthy = Receiver(), Receiver()
    yield baseline, healthy
    baseline.close()
    healthy.close()


@pytest.mark.timeout(240)
def test_hostile_receivers_end_in_their_own_outcomes_next_to_a_healthy_route(
    bootstrap: str,
    tmp_path: Path,
    start_bridge: Start,
    hostile: HostileServer,
    receivers: tuple[Receiver, Receiver],
) -> None:
    baseline_receiver, healthy = receivers

    # 1. baseline: the healthy route alone, the same paced stream
    topic_a = create_topic(bootstrap, unique("calm"))
    stream_a = Stream(bootstrap, topic_a)
    config_a, _ = _config(
        tmp_path, "baseline", bootstrap, [simple_route("healthy", topic_a, baseline_receiver.url)]
    )
    bridge_a = _started(start_bridge, config_a, baseline_receiver, stream_a)
    stream_a.ticks(0, TICKS, RATE, lambda: None)
    baseline_receiver.wait_for(lambda reqs: set(range(TICKS)) <= set(_first_arrivals(reqs)))
    assert bridge_a.terminate() == 0
    latencies_baseline = _latencies(stream_a, baseline_receiver, range(TICKS))
    p99_baseline = _quantile(latencies_baseline, 0.99)

    # 2. the same route and stream, next to one route per hostile case on the same topic
    topic = create_topic(bootstrap, unique("hostile"))
    stream = Stream(bootstrap, topic)
    routes = [simple_route("healthy", topic, healthy.url)]
    routes += [_hostile_route(case, topic, hostile.url(case)) for case in CASES]
    config, group = _config(tmp_path, "hostile", bootstrap, routes)
    bridge = _started(start_bridge, config, healthy, stream)
    time.sleep(1.0)
    rss_before = rss_kib(bridge.proc.pid)
    watch = Watch(bridge)
    watch.start()
    dead = DeadLetters(bootstrap, f"{topic}.dlq")
    probes = {case: PROBE_BASE + n for n, case in enumerate(CASES)}
    idle_second = PROBE_BASE + len(CASES)  # sent once the first answer's idle bytes are out
    try:
        began = time.time()
        for case, ident in probes.items():
            stream.send(ident, case, case)

        def between() -> None:
            dead.read(wait=0)  # never slows the paced stream
            if idle_second not in stream.sent and hostile.observations("idle_bytes", "idle-bytes"):
                stream.send(idle_second, "idle_bytes", "idle_bytes")  # same key: after the first

        ticks_s = stream.ticks(0, TICKS, RATE, between)
        with _suppress_timeout():
            wait_until(lambda: bool(hostile.observations("idle_bytes", "idle-bytes")), timeout=10)
        between()
        stream.flush()
        wanted = {(case, ident) for case, ident in probes.items() if case != "idle_bytes"}
        wanted.add(("idle_bytes", idle_second))

        def settled() -> bool:
            dead.read()
            return wanted <= set(dead.seen) or watch.died_at is not None

        with _suppress_timeout():
            wait_until(settled, timeout=60, interval=0)
        outcomes_after = time.time() - began
        every = set(range(TICKS)) | set(probes.values()) | {idle_second}
        with _suppress_timeout():
            healthy.wait_for(
                lambda reqs: every <= set(_first_arrivals(reqs)) or watch.died_at is not None,
                timeout=30,
            )
        time.sleep(1.0)  # a late second delivery or dead letter would show now
        dead.read()
    finally:
        watch.stop()
        dead.close()
    alive_throughout = watch.died_at is None and bridge.alive()
    code = bridge.terminate()
    output = bridge.output()
    # a probe without a dead letter was delivered if the final commit covers every record
    finished_all = committed(bootstrap, group, topic) == [len(stream.sent)]

    # figures
    arrived = _arrivals(healthy)
    missing = sorted(every - set(arrived))
    latencies = _latencies(stream, healthy, range(TICKS))
    p99 = _quantile(latencies, 0.99)
    peak = max(watch.peak_kib, rss_before)
    rows = [_judge(case, probes, idle_second, dead.seen, hostile, finished_all) for case in CASES]
    print(
        f"\nhostile receivers: cases={len(CASES)} exit_code={code} "
        f"alive_throughout={alive_throughout} outcomes_within_s={outcomes_after:.1f} "
        f"rss_kib_before={rss_before} rss_kib_peak={peak} "
        f"rss_growth_kib={peak - rss_before} (limit {RSS_MARGIN_KIB})\n"
        f"  healthy route: events={len(every)} missing={len(missing)} "
        f"ticks={TICKS} over {ticks_s:.1f} s "
        f"p99_ratio={p99 / p99_baseline:.2f} (limit 2.00)\n"
        f"    baseline (healthy route alone): {_figures(latencies_baseline)}\n"
        f"    next to the hostile routes:     {_figures(latencies)}"
    )
    for row in rows:
        print(row.line())
    fatal = [line for line in output.splitlines() if "Fatal error" in line or "Traceback" in line]
    print(f"  bridge log: lines={len(output.splitlines())} fatal_or_traceback={len(fatal)}")

    failed = [row for row in rows if row.problems]
    assert alive_throughout, f"the bridge exited early:\n{output[-3000:]}"
    assert code == 0
    assert peak <= rss_before + RSS_MARGIN_KIB
    assert missing == [], f"the healthy route lost events: {missing[:20]}"
    assert p99 <= 2 * p99_baseline
    assert fatal == [], fatal[:5]
    assert failed == [], "\n".join(row.line() for row in failed)


class _suppress_timeout:
    """Waits whose failure the per-case table reports better than a bare timeout."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: object, tb: object) -> bool:
        return isinstance(exc, AssertionError) and "within" in str(exc)


def _judge(
    case: str,
    probes: dict[str, int],
    idle_second: int,
    dead: dict[tuple[str, int], dict[str, str]],
    hostile: HostileServer,
    finished_all: bool,
) -> Row:
    """The outcome one case ended in, and what differs from ``EXPECTED``."""
    want = EXPECTED[case]
    ident = idle_second if case == "idle_bytes" else probes[case]
    headers = dead.get((case, ident))
    requests = hostile.requests(case)
    if case != "early_answer":  # there the body is never read: every request is the probe's
        requests = [r for r in requests if r["id"] == ident]
    problems: list[str] = []
    notes = [f"requests={len(requests)}"]
    if headers is None:
        row = Row(case, DELIVERED if finished_all else "unfinished")
        problems.append(f"expected {want.outcome}, got {row.outcome}")
    else:
        attempts = headers.get("kafkahooks.attempts", "")
        row = Row(
            case,
            AT_ONCE if attempts == "1" else RETRIED,
            headers.get("kafkahooks.error.class", ""),
            headers.get("kafkahooks.http.status", ""),
            attempts,
            headers.get("kafkahooks.error.message", ""),
        )
        if row.outcome != want.outcome:
            problems.append(f"expected {want.outcome}")
        if want.outcome == RETRIED and attempts != str(MAX_ATTEMPTS):
            problems.append(f"attempts {attempts}, expected {MAX_ATTEMPTS}")
        if row.error_class != want.error_class:
            problems.append(f"class {row.error_class}, expected {want.error_class}")
        if row.status not in want.statuses:
            problems.append(f"status {row.status!r}, expected one of {want.statuses}")
        if want.reasons and not any(r in row.message.lower() for r in want.reasons):
            problems.append(f"reason should mention one of {want.reasons}")
        if len(requests) != int(attempts or 0):
            problems.append(f"the receiver saw {len(requests)} attempts")
    problems += _case_checks(case, probes, requests, dead, hostile, notes)
    row.notes = " ".join(notes)
    row.problems = tuple(problems)
    return row


def _case_checks(
    case: str,
    probes: dict[str, int],
    requests: list[dict[str, Any]],
    dead: dict[tuple[str, int], dict[str, str]],
    hostile: HostileServer,
    notes: list[str],
) -> list[str]:
    """What only the receiver's side shows: waits between attempts, connection reuse."""
    problems: list[str] = []
    gaps = [round(b["t"] - a["t"], 2) for a, b in itertools.pairwise(requests)]
    if case.startswith("retry_after_"):
        notes.append(f"gaps_s={gaps}")
    if case == "retry_after_huge_year" and any(g < 0.9 * RETRY_AFTER_CAP for g in gaps):
        problems.append(f"a far-future date should wait retry_after_cap ({RETRY_AFTER_CAP} s)")
    if case in ("retry_after_superscript", "retry_after_arabic_digits") and any(
        g >= 1.5 for g in gaps
    ):
        problems.append("a Retry-After that is not ASCII digits should be ignored")
    if case.startswith("header_flood_"):
        sent = max((o["sent"] for o in hostile.observations(case, "closed")), default=0)
        notes.append(f"max_bytes_sent_before_close={sent}")
    if case in ("desync_503_then_200", "idle_bytes"):
        reused = [r for r in hostile.requests(case) if r["nth"] > 1]
        opened = hostile.observations(case, "connect")
        hung_up = [o for o in hostile.observations(case, "closed") if o["by"].startswith("client")]
        notes.append(
            f"connections={len(opened)} closed_by_client={len(hung_up)} reused={len(reused)}"
        )
        if reused:
            problems.append("a connection that sent bytes out of turn was used again")
        if len(hung_up) != len(opened):
            problems.append("a connection that sent bytes out of turn was kept open")
    if case == "idle_bytes":
        first = [r for r in hostile.requests(case) if r["id"] == probes[case]]
        if len(first) != 1 or (case, probes[case]) in dead:
            problems.append("the first probe (answered 200) was not delivered once")
    if case == "switching_protocols":
        hung_up = bool(hostile.observations(case, "client-hung-up"))
        notes.append(f"client_closed_upgraded_connection={hung_up}")
        if not hung_up:
            problems.append("the upgraded connection was kept open")
    return problems
