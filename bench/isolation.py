"""Tenant isolation (issue 16): one customer's failing endpoint costs that customer only.

One command (defaults: 100 tenants, 500 events/s, 60 s outages; ~8 minutes)::

    PYTHONPATH=src .venv/bin/python bench/isolation.py
    PYTHONPATH=src .venv/bin/python bench/isolation.py --outage 20 --tenants 20   # quick look

It starts the embedded broker and one loopback receiver process
(``bench/tenant_receiver.py``: every tenant is a path on it, switchable to answer 503 or to
accept and never answer), writes one endpoint per tenant to the store topic, and runs one
bridge per case on a route with ``endpoints: {tenant: value.accountId, timeout: 15}`` and
``retry_topics: {delays: [5, 30]}`` (the Standard Webhooks schedule shortened for the run).
A steady event stream (``--rate``, spread evenly over the tenants, keys spread over the
partitions) runs through each case:

1. **baseline** (``--baseline`` s after a ``--warmup``): every tenant answers 200;
2. **outage** (``--outage`` s): one tenant answers 503 (case ``503``) or accepts and never
   answers (case ``hang``); in its middle the bridge is SIGKILLed and started again
   (``--no-kill``: not);
3. **recovery**: that tenant answers 200 again; the stream goes on ``--tail`` s, then the
   bench waits until every produced event reached its receiver (bounded).

Printed per case, against the issue's targets: the most ``kafkahooks_paused_partitions``
seen on the bridge's /metrics (sampled every 0.25 s; target 0) and the count of its
"partitions paused" log lines; the other tenants' p50/p99 end-to-end latency (produce
time, carried in the event → receiver arrival) in the baseline and in the outage up to
the kill (target: outage p99 ≤ max(2 x baseline p99, baseline p99 + 250 ms)); events lost
(produced and acknowledged, never answered 200 by their receiver; dead-lettered ones are
named); the failing tenant's last arrival minus its recovery (target ≤ 60 s); RSS during
the outage; events parked (records on the route's retry topics, by tenant); and after the
SIGKILL the duplicates (200 answers to one webhook-id of one endpoint beyond the first)
against the bound "unfinished events + events finished since the last commit", observed
as the bridge's ``kafkahooks_window_events`` at its last scrape before the kill plus the
200 answers of the last commit interval before it.

Prints the figures and a markdown section (``--results FILE`` appends it).  No assertion:
the figures are read against the targets.  The machine is shared: compare figures of one
run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import procstats
import report
import throughput
import workload
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from kafkahooks.demo.broker import EmbeddedBroker, free_port
from kafkahooks.endpoints import (
    EndpointSpec,
    Keyring,
    create_endpoint,
    encode_endpoint,
    generate_key_spec,
)
from kafkahooks.kafka import StoreLog, ensure_store_topic

BENCH = Path(__file__).resolve().parent
STORE_TOPIC = "bench.iso.endpoints"
CASES = ("503", "hang")
SAMPLE_EVERY = 0.25  # s between /metrics scrapes
# s before the kill whose events are left out of the outage latency: they wait for the
# restart (an event not delivered within it misses the target anyway)
KILL_MARGIN = 5.0
COMMIT_INTERVAL = 1.0  # KAFKAHOOKS_COMMIT_INTERVAL's default: the "since the last commit" span
TEMPLATE: dict[str, Any] = {
    "eid": "{{ value.eid }}",
    "sentAt": "{{ value.sentAt }}",
    "account": "{{ value.accountId }}",
    "event": "{{ value.event }}",
    "callId": "{{ key }}",
    "data": {
        "status": "{{ value.data.status }}",
        "startedAt": "{{ value.data.startedAt }}",
        "phoneNumber": "{{ value.data.phoneNumber }}",
    },
    "eventId": "{{ event_id }}",
}


def tenant_name(n: int) -> str:
    return f"acct-{n:03d}"


# -- the receiver and the store ----------------------------------------------------------


class Receivers:
    """The receiver process (``bench/tenant_receiver.py``) and its request log."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / "receiver.log"
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "tenant_receiver.py"), "--port", str(self.port),
             "--log", str(self.log)],
            stdout=subprocess.PIPE, stderr=(workdir / "receiver.err").open("wb"),
        )  # fmt: skip
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the receiver did not start (see receiver.err)")
        self.origin = f"http://127.0.0.1:{self.port}"
        self._offset = 0
        self.requests: list[Arrival] = []

    def switch(self, tenant: str, mode: str) -> float:
        """Set ``tenant``'s mode; the time it took effect (just before the answer)."""
        url = f"{self.origin}/_mode/{tenant}/{mode}"
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()
        return time.time()

    def read(self) -> list[Arrival]:
        """Requests logged since the last read (the receiver writes every 0.2 s)."""
        with self.log.open("rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        new = [a for line in data[:end].splitlines() if (a := Arrival.parse(line)) is not None]
        self.requests.extend(new)
        return new

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@dataclass(frozen=True, slots=True)
class Arrival:
    at: float
    mode: str  # ok | 503 | hang
    tenant: str
    webhook_id: str
    eid: str
    sent_at: float

    @staticmethod
    def parse(line: bytes) -> Arrival | None:
        parts = line.split(b" ", 4)
        if len(parts) < 5 or parts[1] == b"switch":
            return None
        try:
            body = json.loads(parts[4])
            return Arrival(
                float(parts[0]), parts[1].decode(), parts[2].decode(), parts[3].decode(),
                str(body["eid"]), float(body["sentAt"]),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None


def write_store(bootstrap: str, tenants: int, origin: str, keyring: Keyring) -> None:
    """One endpoint per tenant, ``<origin>/t/<tenant>``, every event type."""
    ensure_store_topic({"bootstrap.servers": bootstrap}, STORE_TOPIC, 30)
    store = StoreLog({"bootstrap.servers": bootstrap}, STORE_TOPIC, lambda *_: None, name="bench")
    try:
        now = time.time()
        for n in range(tenants):
            tenant = tenant_name(n)
            spec = EndpointSpec.parse({"url": f"{origin}/t/{tenant}"}, allow_local=True)
            ep = create_endpoint(spec, tenant, now=now)
            store.write(ep.id, encode_endpoint(ep, keyring, -1, now), 30)
    finally:
        store.close()


# -- the event stream --------------------------------------------------------------------


@dataclass
class Produced:
    """Every event the broker acknowledged: eid -> (tenant, produce time)."""

    events: dict[str, tuple[str, float]] = field(default_factory=dict)
    errors: int = 0


class Stream:
    """Events at a steady ``rate`` on a thread, tenant ``i % tenants``, until stopped."""

    def __init__(self, bootstrap: str, topic: str, rate: float, tenants: int, case: str) -> None:
        # the produce() call is the start of the latency; a 5 ms linger (counted in it) keeps
        # the test broker from taking one request per event (94% of a core at 1,000/s)
        self._producer = workload.producer(bootstrap, linger_ms=5)
        self._topic, self._rate, self._tenants, self._case = topic, rate, tenants, case
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.out = Produced()

    def start(self) -> Stream:
        self._thread.start()
        return self

    def _report(
        self, eid: str, tenant: str, sent: float, err: KafkaError | None, _m: Message
    ) -> None:
        if err is not None:
            self.out.errors += 1
        else:
            self.out.events[eid] = (tenant, sent)

    def _run(self) -> None:
        base, started, i = workload.samples(), time.monotonic(), 0
        while not self._stop.is_set():
            delay = started + i / self._rate - time.monotonic()
            if delay > 0:
                self._producer.poll(0)
                time.sleep(delay)
            key = f"call-{(i * 7919) % 5000:04d}"  # keys spread over partitions and tenants
            tenant = tenant_name(i % self._tenants)
            event = workload.call_event(base, key, i)
            sent = time.time()
            eid = f"{self._case}-{i}"
            event.update(accountId=tenant, eid=eid, sentAt=sent)
            value = json.dumps(event).encode()
            while True:
                try:
                    report_ = partial(self._report, eid, tenant, sent)
                    self._producer.produce(self._topic, key=key, value=value, on_delivery=report_)
                    break
                except BufferError:
                    self._producer.poll(0.05)
            i += 1
        self._producer.flush(30)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


# -- the bridge --------------------------------------------------------------------------


def routes(
    args: argparse.Namespace, bootstrap: str, case: str, topic: str, group: str, key_spec: str
) -> dict[str, Any]:
    route = {
        "name": f"iso-{case}",
        "topics": [topic],
        "event_type": "value.event",
        "template": TEMPLATE,
        "signing": {"scheme": "standard-webhooks"},
        "endpoints": {"tenant": "value.accountId", "timeout": args.timeout},
        "retry_topics": {"delays": args.delays},
    }
    return {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": group,
            "properties": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000},
        },
        "endpoint_store": {"topic": STORE_TOPIC, "encryption_keys": key_spec},
        "routes": [route],
    }


class Bridge:
    """One ``kafkahooks run`` process, its /metrics port and its log."""

    def __init__(self, config: Path, workdir: Path, name: str, settings: dict[str, str]) -> None:
        self.port = free_port()
        self.log = workdir / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKAHOOKS_")}
        env.update({
            "KAFKAHOOKS_ALLOW_LOCAL_TARGETS": "true",
            "KAFKAHOOKS_LOG_LEVEL": "DEBUG",  # "partitions paused" is a debug line
            "KAFKAHOOKS_LOG_FORMAT": "json",
            "KAFKAHOOKS_HTTP_HOST": "127.0.0.1",
            "KAFKAHOOKS_HTTP_PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
            **settings,
        })  # fmt: skip
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kafkahooks.cli", "run", "--config", str(config)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir,
            )  # fmt: skip

    def metrics(self) -> dict[str, float]:
        """The samples named below, summed over their labels ({} when not answering)."""
        wanted = ("kafkahooks_paused_partitions", "kafkahooks_window_events")
        out: dict[str, float] = {}
        try:
            url = f"http://127.0.0.1:{self.port}/metrics"
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return out
        for line in text.splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in wanted:
                out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        return out

    def logged(self, msg: str) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{") and f'"{msg}"' in line:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("msg") == msg:
                    out.append(record)
        return out

    def wait_assigned(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.logged("partitions assigned"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the bridge was not assigned partitions:\n{tail}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Sampler:
    """Scrapes the current bridge every SAMPLE_EVERY s: paused partitions, window, RSS."""

    def __init__(self) -> None:
        self.bridge: Bridge | None = None
        self.paused: list[tuple[float, float]] = []
        self.window: list[tuple[float, float]] = []
        self.rss: list[tuple[float, float]] = []
        self.cpu: list[tuple[float, int, float]] = []  # (t, pid, CPU seconds so far)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    def start(self, bridge: Bridge) -> Sampler:
        self.bridge = bridge
        self._thread.start()
        return self

    def swap(self, bridge: Bridge) -> None:
        with self._lock:
            self.bridge = bridge

    def sample(self) -> None:
        with self._lock:
            bridge = self.bridge
            if bridge is None or bridge.proc.poll() is not None:
                return
            now, values = time.time(), bridge.metrics()
            if "kafkahooks_paused_partitions" in values:
                self.paused.append((now, values["kafkahooks_paused_partitions"]))
            if "kafkahooks_window_events" in values:
                self.window.append((now, values["kafkahooks_window_events"]))
            self.rss.append((now, procstats.rss_mb(bridge.proc.pid)))
            self.cpu.append((now, bridge.proc.pid, procstats.cpu_seconds(bridge.proc.pid)))

    def cpu_share(self, start: float, end: float) -> float | None:
        """The bridge's CPU (share of one core) between ``start`` and ``end`` (one process:
        the one sampled first in the interval)."""
        inside = [(t, pid, c) for t, pid, c in self.cpu if start <= t <= end]
        if len(inside) < 2:
            return None
        pid = inside[0][1]
        mine = [(t, c) for t, p, c in inside if p == pid]
        (t0, c0), (t1, c1) = mine[0], mine[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else None

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


# -- one case ----------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    failing: str
    times: dict[str, float] = field(default_factory=dict)  # phase boundaries (unix s)
    produced: Produced = field(default_factory=Produced)
    arrivals: list[Arrival] = field(default_factory=list)
    max_paused: float | None = None
    paused_lines: int = 0
    window_before_kill: float | None = None
    finished_last_interval: int = 0
    rss_outage_mb: float = 0.0
    cpu_baseline: float | None = None  # the bridge's CPU, share of one core
    cpu_outage: float | None = None
    peak_rss_mb: float = 0.0
    parked: Counter[str] = field(default_factory=Counter)  # tenant -> retry-topic records
    dead: list[str] = field(default_factory=list)  # eids dead-lettered


def run_case(
    args: argparse.Namespace, bootstrap: str, receivers: Receivers, key_spec: str,
    workdir: Path, name: str,
) -> Case:  # fmt: skip
    failing = tenant_name(args.tenants // 2)
    case = Case(name, failing)
    cdir = workdir / name
    cdir.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:6]
    topic, group = f"bench.iso.{name}.{run_id}", f"bench-iso-{name}-{run_id}"
    workload.create_topics(bootstrap, [topic])
    config = cdir / "routes.yaml"
    doc = routes(args, bootstrap, name, topic, group, key_spec)
    config.write_text(json.dumps(doc, indent=2))
    receivers.switch(failing, "ok")
    bridges = [Bridge(config, cdir, "bridge-1", args.settings)]
    bridges[0].wait_assigned()
    sampler = Sampler().start(bridges[0])
    stream = Stream(bootstrap, topic, args.rate, args.tenants, f"{name}{run_id}").start()
    t = case.times
    t["stream"] = time.time()
    try:
        time.sleep(args.warmup)
        t["baseline"] = time.time()
        print(f"[{name}] baseline {args.baseline:.0f} s", flush=True)
        time.sleep(args.baseline)
        t["outage"] = receivers.switch(failing, "hang" if name == "hang" else "503")
        print(f"[{name}] outage of {failing} ({name}) for {args.outage:.0f} s", flush=True)
        if args.kill:
            time.sleep(args.outage / 2)
            _kill_and_restart(case, sampler, bridges, config, cdir, receivers, args)
            time.sleep(max(0.0, t["outage"] + args.outage - time.time()))
        else:
            time.sleep(args.outage)
        t["recovery"] = receivers.switch(failing, "ok")
        print(f"[{name}] {failing} recovered; stream goes on {args.tail:.0f} s", flush=True)
        time.sleep(args.tail)
    finally:
        stream.stop()
    t["stream_end"] = time.time()
    case.produced = stream.out
    _wait_delivered(case, receivers, args)
    sampler.stop()
    for bridge in bridges:
        case.peak_rss_mb = max(case.peak_rss_mb, procstats.peak_rss_mb(bridge.proc.pid))
        bridge.stop()
    _score_samples(case, sampler, bridges)
    route = doc["routes"][0]["name"]
    _read_parked(
        case, bootstrap, [f"kafkahooks.retry.{route}.{n + 1}" for n in range(len(args.delays))]
    )
    _read_dead(case, bootstrap, f"{topic}.dlq")
    prefix = f"{name}{run_id}-"
    case.arrivals = [a for a in receivers.requests if a.eid.startswith(prefix)]
    return case


def _kill_and_restart(
    case: Case, sampler: Sampler, bridges: list[Bridge], config: Path, cdir: Path,
    receivers: Receivers, args: argparse.Namespace,
) -> None:  # fmt: skip
    old = bridges[-1]
    sampler.sample()  # the last look at its window before the kill
    if sampler.window:
        case.window_before_kill = sampler.window[-1][1]
    case.peak_rss_mb = max(case.peak_rss_mb, procstats.peak_rss_mb(old.proc.pid))
    old.proc.send_signal(signal.SIGKILL)
    case.times["kill"] = time.time()
    old.proc.wait(10)
    print(f"[{case.name}] SIGKILL; restarting", flush=True)
    new = Bridge(config, cdir, f"bridge-{len(bridges) + 1}", args.settings)
    bridges.append(new)
    sampler.swap(new)
    new.wait_assigned()
    case.times["restarted"] = time.time()
    receivers.read()
    kill = case.times["kill"]
    case.finished_last_interval = sum(
        1 for a in receivers.requests
        if a.mode == "ok" and kill - COMMIT_INTERVAL - SAMPLE_EVERY <= a.at <= kill
    )  # fmt: skip


def _wait_delivered(case: Case, receivers: Receivers, args: argparse.Namespace) -> None:
    """Until every produced event reached its receiver, or ``--drain-timeout`` s after
    the recovery."""
    deadline = case.times["recovery"] + args.drain_timeout
    wanted = {eid: tenant for eid, (tenant, _) in case.produced.events.items()}
    arrived: set[str] = set()
    while True:
        receivers.read()
        arrived |= {a.eid for a in receivers.requests if a.mode == "ok" and a.eid in wanted}
        if len(arrived) >= len(wanted) or time.time() > deadline:
            break
        time.sleep(1.0)
    time.sleep(1.0)
    receivers.read()


def _score_samples(case: Case, sampler: Sampler, bridges: list[Bridge]) -> None:
    case.max_paused = max((v for _, v in sampler.paused), default=None)
    case.paused_lines = sum(len(b.logged("partitions paused")) for b in bridges)
    start, end = case.times["outage"], case.times["recovery"]
    case.rss_outage_mb = max((mb for t, mb in sampler.rss if start <= t <= end), default=0.0)
    case.cpu_baseline = sampler.cpu_share(case.times["baseline"], start)
    case.cpu_outage = sampler.cpu_share(start, case.times.get("kill", end))


def _read_topic(
    bootstrap: str, topic: str, idle: float = 3.0, limit: float = 60.0
) -> Iterator[Message]:
    """Every record of ``topic`` (``workload.PARTITIONS`` partitions), read until none came
    for ``idle`` s; assigned, not subscribed: no group join to wait for."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"bench-read-{uuid.uuid4().hex[:6]}",
        "enable.auto.commit": False,
    })  # fmt: skip
    consumer.assign(
        [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(workload.PARTITIONS)]
    )
    try:
        last, deadline = time.monotonic(), time.monotonic() + limit
        while time.monotonic() - last < idle and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.2):
                if message.error() is None:
                    last = time.monotonic()
                    yield message
    finally:
        consumer.close()


def _read_parked(case: Case, bootstrap: str, topics: list[str]) -> None:
    for topic in topics:
        for message in _read_topic(bootstrap, topic):
            try:
                case.parked[json.loads(message.value() or b"{}")["accountId"]] += 1
            except (ValueError, KeyError):
                case.parked["?"] += 1


def _read_dead(case: Case, bootstrap: str, topic: str) -> None:
    for message in _read_topic(bootstrap, topic):
        try:
            case.dead.append(json.loads(message.value() or b"{}")["eid"])
        except (ValueError, KeyError):
            case.dead.append("?")


# -- scoring -----------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class Scored:
    base: list[float]  # others' latencies (s), baseline
    outage: list[float]  # others' latencies, outage up to the kill (or its end)
    after_kill: list[float]  # others' latencies, restart to the outage's end
    lost_others: int
    lost_failing: int
    dead_failing: int
    failing_during: int  # failing tenant's 200s between outage start and recovery (must be 0)
    failing_last: float | None  # last 200 of the failing tenant minus recovery
    failing_events: int  # failing tenant's events produced from the outage on
    duplicates: int
    duplicates_before_kill: int


def score(case: Case) -> Scored:
    t = case.times
    first: dict[str, float] = {}
    seen: Counter[tuple[str, str]] = Counter()
    before_kill: Counter[tuple[str, str]] = Counter()
    failing_during, failing_last = 0, None
    for a in case.arrivals:
        if a.mode != "ok":
            continue
        first[a.eid] = min(a.at, first.get(a.eid, a.at))
        seen[(a.tenant, a.webhook_id)] += 1
        if a.at < t.get("kill", float("inf")):
            before_kill[(a.tenant, a.webhook_id)] += 1
        if a.tenant == case.failing:
            if t["outage"] < a.at < t["recovery"]:
                failing_during += 1
            if t["outage"] <= a.sent_at < t["recovery"]:  # an event of the outage
                failing_last = max(failing_last or 0.0, a.at - t["recovery"])
    # events sent just before the kill wait for the restart: not the outage's doing
    end_outage = t["kill"] - KILL_MARGIN if "kill" in t else t["recovery"]

    def lat(lo: float, hi: float) -> list[float]:
        return [
            first[eid] - sent
            for eid, (tenant, sent) in case.produced.events.items()
            if tenant != case.failing and lo <= sent < hi and eid in first
        ]

    dead = set(case.dead)
    lost = [(eid, tn) for eid, (tn, _) in case.produced.events.items() if eid not in first]
    failing_events = sum(
        1
        for tn, sent in case.produced.events.values()
        if tn == case.failing and sent >= t["outage"]
    )
    return Scored(
        base=lat(t["baseline"], t["outage"]),
        outage=lat(t["outage"], end_outage),
        after_kill=lat(t["restarted"], t["recovery"]) if "restarted" in t else [],
        lost_others=sum(1 for _, tn in lost if tn != case.failing),
        lost_failing=sum(1 for _, tn in lost if tn == case.failing),
        dead_failing=sum(1 for eid, tn in lost if tn == case.failing and eid in dead),
        failing_during=failing_during,
        failing_last=failing_last,
        failing_events=failing_events,
        duplicates=sum(n - 1 for n in seen.values() if n > 1),
        duplicates_before_kill=sum(n - 1 for n in before_kill.values() if n > 1),
    )


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:,.0f} ms"


def share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "MISSED")


def case_rows(args: argparse.Namespace, case: Case, s: Scored) -> list[tuple[str, str, str]]:
    b50, b99, o50, o99 = (
        pct(s.base, 0.5),
        pct(s.base, 0.99),
        pct(s.outage, 0.5),
        pct(s.outage, 0.99),
    )
    bound = max(2 * b99, b99 + 0.25) if b99 is not None else None
    until = f"{KILL_MARGIN:g} s before the kill" if "kill" in case.times else "its end"
    parked_others = sum(n for tn, n in case.parked.items() if tn != case.failing)
    rows = [
        (
            "kafkahooks_paused_partitions, most seen (sampled every 0.25 s); "
            '"partitions paused" log lines',
            f"{'0 (never set)' if case.max_paused is None else f'{case.max_paused:.0f}'}; "
            f"{case.paused_lines} lines",
            f"0 {verdict((case.max_paused or 0) == 0 and case.paused_lines == 0)}",
        ),
        (
            f"other tenants' latency, baseline ({len(s.base):,} events)",
            f"p50 {ms(b50)}, p99 {ms(b99)}",
            "",
        ),
        (
            f"other tenants' latency, outage up to {until} ({len(s.outage):,} events)",
            f"p50 {ms(o50)}, p99 {ms(o99)}",
            f"p99 ≤ {ms(bound)} {verdict(None if o99 is None or bound is None else o99 <= bound)}",
        ),
    ]
    if s.after_kill:
        rows.append((
            f"other tenants' latency, restart → recovery ({len(s.after_kill):,} events; "
            "includes the restarted bridge catching up)",
            f"p50 {ms(pct(s.after_kill, 0.5))}, p99 {ms(pct(s.after_kill, 0.99))}",
            "(shown)",
        ))  # fmt: skip
    lost_text = f"others {s.lost_others:,}, failing tenant {s.lost_failing:,}"
    if s.dead_failing:
        lost_text += f" ({s.dead_failing:,} of them dead-lettered)"
    lost_text += f" of {len(case.produced.events):,} produced"
    if case.produced.errors:
        lost_text += f"; {case.produced.errors} produce errors"
    rows += [
        ("events lost (never answered 200)", lost_text,
         f"0 {verdict(s.lost_others + s.lost_failing == 0)}"),
        (
            f"failing tenant: last arrival of its outage's events - recovery "
            f"({s.failing_events:,} events produced in the outage; {s.failing_during} answered "
            "200 during it)",
            "—" if s.failing_last is None else f"{s.failing_last:.1f} s",
            f"≤ 60 s {verdict(None if s.failing_last is None else s.failing_last <= 60)}",
        ),
        ("the bridge's CPU (share of one core), baseline / outage up to " + until,
         f"{share(case.cpu_baseline)} / {share(case.cpu_outage)}", "(shown)"),
        ("RSS during the outage (max of 1 s samples); peak VmHWM of the bridges",
         f"{case.rss_outage_mb:.0f} MB; {case.peak_rss_mb:.0f} MB", "(shown)"),
        ("events parked (retry-topic records, failing tenant / others)",
         f"{case.parked.get(case.failing, 0):,} / {parked_others:,}", "(shown)"),
    ]  # fmt: skip
    if "kill" in case.times:
        window = case.window_before_kill
        allowed = None if window is None else int(window) + case.finished_last_interval
        rows.append((
            "duplicates after a SIGKILL mid-outage (200s to one webhook-id of one endpoint "
            "beyond the first) vs the bound: unfinished events (kafkahooks_window_events at "
            "the last scrape before the kill) + events finished since the last commit (200s "
            f"in the {COMMIT_INTERVAL:g} s before the kill)",
            f"{s.duplicates:,} ({s.duplicates_before_kill} before the kill); bound "
            f"{'—' if window is None else f'{window:,.0f}'} + {case.finished_last_interval:,}"
            f" = {'—' if allowed is None else f'{allowed:,}'}",
            f"within {verdict(None if allowed is None else s.duplicates <= allowed)}",
        ))  # fmt: skip
    return rows


# -- the report --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tenants", type=int, default=100, help="one endpoint each; one fails")
    p.add_argument("--rate", type=float, default=500.0, help="events/s over all tenants")
    p.add_argument("--warmup", type=float, default=10.0, help="s of stream before the baseline")
    p.add_argument("--baseline", type=float, default=30.0, help="s")
    p.add_argument("--outage", type=float, default=60.0, help="s the failing tenant fails")
    p.add_argument("--tail", type=float, default=10.0, help="s of stream after the recovery")
    p.add_argument("--timeout", type=float, default=15.0, help="the route's request timeout")
    p.add_argument("--delays", default="5,30", help="retry_topics delays (s), comma list")
    p.add_argument("--drain-timeout", type=float, default=150.0,
                   help="s after the recovery to wait for every event")  # fmt: skip
    p.add_argument("--cases", default=",".join(CASES), help=f"comma list of: {','.join(CASES)}")
    p.add_argument("--no-kill", dest="kill", action="store_false", help="no SIGKILL mid-outage")
    p.add_argument(
        "--set", action="append", default=[], metavar="KAFKAHOOKS_X=V",
        help="a setting for the bridge (repeatable), e.g. KAFKAHOOKS_WINDOW=20000",
    )  # fmt: skip
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    p.add_argument("--results", default="", help="append the markdown section to this file")
    args = p.parse_args(argv)
    args.settings = dict(item.split("=", 1) for item in args.set)
    args.delays = [float(d) for d in args.delays.split(",")]
    args.cases = [c for c in CASES if c in args.cases.split(",")]
    if not args.cases:
        p.error("no case selected")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python bench/isolation.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    throughput.raise_fd_limit()
    commit = _commit()
    box = machine()
    workdir = Path(tempfile.mkdtemp(prefix="kafkahooks-bench-isolation-"))
    print(f"work dir {workdir}", flush=True)
    key_spec = generate_key_spec("bench")
    cases: list[Case] = []
    receivers = Receivers(workdir)
    try:
        with EmbeddedBroker() as broker:
            write_store(broker.bootstrap, args.tenants, receivers.origin, Keyring.parse(key_spec))
            for name in args.cases:
                cases.append(run_case(args, broker.bootstrap, receivers, key_spec, workdir, name))
    finally:
        receivers.stop()
    text = summary(args, command.strip(), box, cases, commit)
    print("\n" + text)
    if args.results:
        with open(args.results, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)
        print(f"appended to {args.results}")
    if not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def machine() -> dict[str, str]:
    """``report.machine()`` (it asks nginx its version: no nginx is used here)."""
    try:
        return dict(report.machine())
    except FileNotFoundError:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        return {"CPUs (nproc)": str(os.cpu_count()), "load average at start": load,
                "CPU model": report._first_line("/proc/cpuinfo", "model name"),
                "Python": sys.version.split()[0]}  # fmt: skip


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=BENCH
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def _settings(args: argparse.Namespace) -> str:
    if not args.settings:
        return ""
    return " plus " + ", ".join(f"{k}={v}" for k, v in args.settings.items())


def summary(
    args: argparse.Namespace, command: str, box: dict[str, str], cases: list[Case], commit: str
) -> str:
    delays = ", ".join(f"{d:g}" for d in args.delays)
    lines = [
        "## Tenant isolation (issue 16)",
        "",
        f"Command: `{command}` (commit {commit})",
        "",
        f"Machine: {box.get('CPU model', '?')}, {box.get('CPUs (nproc)', '?')} cores **shared "
        f"with other agents' builds and tests** (load average at start "
        f"{box.get('load average at start', '?')}); Python {box.get('Python', '?')}; embedded "
        "test broker (Tansu), 4 partitions; one receiver process (`bench/tenant_receiver.py`), "
        "every tenant's endpoint a path on one origin.",
        "",
        f"Workload: {args.rate:,.0f} events/s spread evenly over {args.tenants} tenants "
        f"(one endpoint each; keys spread over the partitions); {args.warmup:g} s warm-up, "
        f"{args.baseline:g} s baseline, then one tenant fails for {args.outage:g} s"
        f"{', SIGKILL and restart of the bridge in the middle' if args.kill else ''}, then "
        f"{args.tail:g} s more stream. Route: `endpoints: {{tenant: value.accountId, timeout: "
        f"{args.timeout:g}}}`, `retry_topics: {{delays: [{delays}]}}`, other settings default"
        f"{_settings(args)}.",
        "",
    ]
    for case in cases:
        what = "answers 503" if case.name == "503" else "accepts and never answers"
        lines += [
            f"### One tenant in {args.tenants} {what} for {args.outage:g} s",
            "",
            "| figure | seen | target |",
            "|---|---|---|",
        ]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in case_rows(args, case, score(case))]
        lines.append("")
    lines += [
        "Method: latency = receiver arrival (first 200 for the event) - the moment the bench "
        "produced it (carried in the event, 5 ms producer linger included), for the tenants that "
        "did not fail, by produce time: baseline = the baseline phase, outage = from the "
        f"switch to {KILL_MARGIN:g} s before the kill (events sent later wait for the "
        "restart). Lost = produced and acknowledged, never answered 200 by its "
        "tenant's receiver by the end of the wait. Parked = records on the route's retry "
        "topics (a record parked again counts again). Duplicates = 200 answers to one "
        "webhook-id of one endpoint beyond the first.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
