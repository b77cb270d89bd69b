"""Customer endpoints at scale (issue 15): store load, CPU per event, fan-out, propagation.

One command (defaults run in a few minutes on 2 cores)::

    PYTHONPATH=src .venv/bin/python bench/endpoints.py
    PYTHONPATH=src .venv/bin/python bench/endpoints.py --endpoints 20000 --tenants 4000 \
        --events 10000 --rounds 1 --writes 20            # a quick look

It starts the embedded broker and one nginx origin (every endpoint is a distinct path
on it), writes ``--endpoints`` endpoints for ``--tenants`` tenants to the store topic
(one secret each, a plain header, a description; ``--fanout-tenants`` of the tenants
have 10 endpoints, the others share the rest, and only one endpoint of each of those
takes the events' type), then measures:

1. **load**: a bridge reads the store to its end ("endpoint store loaded": seconds,
   endpoints, records in the topic; the test broker never compacts, so superseded
   versions and the markers of earlier loads are included) and its RSS once loaded.
   Every bridge started later loads the same store, so its load time is printed too.
2. **CPU per event**: the same events (call-status JSON with an ``accountId``, each
   matching exactly one endpoint) through a route with ``endpoints: {tenant:
   value.accountId}`` and through one static route (same template, hmac-sha256 signing,
   the endpoints' ``X-Customer`` header, the same retry topics, nginx): the bridge's CPU
   seconds from the first request nginx saw to the last commit ÷ events (as
   ``bench/cpu_ab.py``), best of ``--rounds``, run alternately.
3. **fan-out**: events whose tenant has 10 endpoints; deliveries/s against the
   single-endpoint deliveries/s of item 2, best of ``--rounds``.
4. **propagation**: two replicas (one consumer group) deliver a steady event stream;
   ``--writes`` store writes (updates of one endpoint's URL path, and every sixth a new
   endpoint for a tenant whose events already flow) are timed from just before the
   write to the first request nginx saw with the new path from each replica (each
   replica's template carries its name); per write the slower replica counts.

Prints the figures and a markdown section (``--results FILE`` appends it).  No
assertion: the figures are read against the issue's targets.  The machine is shared:
compare figures of one run.  Item 2's rounds vary by up to 60 % here; the engine's own
share of the difference, without broker or sockets, is ``bench/tenant_path.py`` (in
seconds, or in instructions under callgrind: its docstring).

``--callgrind`` runs items 2-3's bridges under valgrind's callgrind instead and prints
each process's instructions (no load or propagation figures; ~40x slower).  Per event,
from two runs that differ only in ``--events`` (start-up and the store load cancel out)::

    for n in 2000 6000; do PYTHONPATH=src .venv/bin/python bench/endpoints.py --callgrind \
        --rounds 1 --skip propagation --endpoints 5000 --tenants 1000 --fanout-tenants 50 \
        --events $n --fanout-events 100; done
    # per side: (instructions at 6000 - instructions at 2000) / 4000
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import procstats
import report
import throughput
import workload
from confluent_kafka import KafkaError, Message, Producer
from cpu_ab import cpu_us_per_event
from nginx_receiver import Nginx, ensure_nginx
from rows import ROWS, TEMPLATE, Bench, Result, routes_file, run_row

from kafkahooks.config.tenants import TENANT_RETRY_DELAYS
from kafkahooks.demo.broker import EmbeddedBroker, free_port
from kafkahooks.endpoints import (
    EndpointSpec,
    Keyring,
    create_endpoint,
    encode_endpoint,
    generate_key_spec,
    update_endpoint,
)
from kafkahooks.kafka import StoreLog, ensure_store_topic

STORE_TOPIC = "bench.endpoints"
SINGLE_TOPIC = "bench.single"
FAN_TOPIC = "bench.fanout"
PROP_TOPIC = "bench.propagation"
EVENT_TYPE = "status-changed"  # what the workload's events are
OTHER_TYPES = ["call.recorded", "call.transcribed"]  # what the other endpoints take
FAN_SIZE = 10
LOADED = re.compile(r"endpoint store loaded .*endpoints=(\d+) records=(\d+) seconds=([\d.]+)")
ROW = next(r for r in ROWS if r.option == "key")  # ordering by key, --concurrency in flight


# -- the store ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Which tenant each endpoint belongs to: ``fan`` tenants with 10 endpoints each, then
    the rest round-robin over the other tenants; of those, each tenant's first endpoint
    takes the events' type and the others take other types (one match per event)."""

    endpoints: int
    tenants: int
    fan: int

    @staticmethod
    def name(n: int) -> str:
        return f"acct-{n:06d}"

    def placements(self) -> Iterator[tuple[str, int, bool]]:
        """(tenant, slot within the tenant, takes the events' type) per endpoint."""
        fanned, rest = self.fan * FAN_SIZE, self.tenants - self.fan
        for i in range(self.endpoints):
            if i < fanned:
                yield self.name(i // FAN_SIZE), i % FAN_SIZE, True
            else:
                slot = (i - fanned) // rest
                yield self.name(self.fan + (i - fanned) % rest), slot, slot == 0

    active: int = 0  # single-endpoint tenants the events cycle over (0: all of them)

    def single(self, i: int) -> str:
        """The tenant of the i-th single-endpoint event."""
        return self.name(self.fan + i % (self.active or self.tenants - self.fan))

    def fanned(self, i: int) -> str:
        return self.name(i % self.fan)


def endpoint_spec(url: str, tenant: str, slot: int, takes: bool) -> EndpointSpec:
    return EndpointSpec.parse(
        {
            "url": url,
            "description": f"Webhook {slot} of customer {tenant} for call events",
            "event_types": [EVENT_TYPE] if takes else OTHER_TYPES,
            "headers": {"X-Customer": tenant},
        },
        allow_local=True,
    )


def write_store(bootstrap: str, layout: Layout, origin: str, keyring: Keyring) -> None:
    """Every endpoint of ``layout`` as a create (revision -1), pipelined: produced without
    waiting for each acknowledgement (idempotent, acks=all, as the store's writers)."""
    ensure_store_topic({"bootstrap.servers": bootstrap}, STORE_TOPIC, 30)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 500_000,
        }
    )
    failed: list[str] = []

    def report_(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failed.append(err.str())

    started, now, encode = time.monotonic(), time.time(), 0.0
    for tenant, slot, takes in layout.placements():
        t = time.perf_counter()
        spec = endpoint_spec(f"{origin}/t/{tenant}/{slot}", tenant, slot, takes)
        ep = create_endpoint(spec, tenant, now=now)
        value = encode_endpoint(ep, keyring, -1, now)
        encode += time.perf_counter() - t
        while True:
            try:
                producer.produce(
                    STORE_TOPIC, key=ep.id.encode(), value=value, partition=0, on_delivery=report_
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120) != 0 or failed:
        raise RuntimeError(f"store write failed: {failed[:3]} ({len(failed)} errors)")
    print(
        f"wrote {layout.endpoints:,} endpoints ({layout.tenants:,} tenants, "
        f"{layout.fan:,} with {FAN_SIZE}) in {time.monotonic() - started:.1f} s "
        f"({encode:.1f} s creating and encrypting them)",
        flush=True,
    )


def static_route(config: dict[str, Any]) -> None:
    """``rows``' static route made the tenant route's equal in what is not about customer
    endpoints: it sends the header every bench endpoint has (a tenant's name as
    ``X-Customer``, of the same length) and parks failed events on the retry topics a
    route with ``endpoints:`` has by default.  Before, the static side did neither, and
    the comparison counted the retry topics' bookkeeping (~12,000 instructions per event,
    ``bench/results.md``) and a header as costs of customer endpoints."""
    route = config["routes"][0]
    route["endpoint"]["headers"] = {"X-Customer": Layout.name(0)}
    route["retry_topics"] = {"delays": list(TENANT_RETRY_DELAYS)}


def tenant_route(key_spec: str, config: dict[str, Any]) -> None:
    """``rows``' static route turned into one that delivers to each event's tenant."""
    route = config["routes"][0]
    del route["endpoint"]
    route["endpoints"] = {"tenant": "value.accountId", "timeout": 10}
    route["signing"] = {k: v for k, v in route["signing"].items() if k != "secret"}
    config["endpoint_store"] = {"topic": STORE_TOPIC, "encryption_keys": key_spec}


# -- events ------------------------------------------------------------------------------


def tenant_events(
    count: int, keys: int, tenant: Callable[[int], str]
) -> Iterator[tuple[str, bytes]]:
    """``workload.events`` with an ``accountId`` (the tenant) in every value."""
    base = workload.samples()
    for i in range(count):
        call_id = f"call-{i % keys:06d}"
        event = workload.call_event(base, call_id, i // keys)
        event["accountId"] = tenant(i)
        yield call_id, json.dumps(event).encode()


def load_events(bootstrap: str, topic: str, items: Iterator[tuple[str, bytes]]) -> None:
    workload.create_topics(bootstrap, [topic])
    count = workload.produce_all(bootstrap, topic, items)
    print(f"loaded {count:,} events into {topic}", flush=True)


# -- 1. load -----------------------------------------------------------------------------


@dataclass
class Load:
    endpoints: int = 0
    records: int = 0
    seconds: list[float] = field(default_factory=list)
    rss_loaded_mb: float = 0.0  # right after the "endpoint store loaded" line
    rss_idle_mb: float = 0.0  # a few seconds later: joined its group, nothing to deliver
    peak_rss_mb: float = 0.0  # the highest VmHWM of the tenant rows (delivering)


def loaded_line(text: str) -> tuple[int, int, float] | None:
    match = LOADED.search(text)
    if match is None:
        return None
    return int(match[1]), int(match[2]), float(match[3])


def measure_load(bench: Bench, load: Load, settle: float = 5.0) -> None:
    """Start a bridge on an empty topic, wait for its store load, read its RSS."""
    workdir = bench.workdir / "load"
    workdir.mkdir(parents=True, exist_ok=True)
    topic = f"bench.empty.{uuid.uuid4().hex[:6]}"
    workload.create_topics(bench.bootstrap, [topic])
    config = routes_file(
        bench, workdir / "routes.yaml", f"bench-load-{uuid.uuid4().hex[:6]}",
        "http://127.0.0.1:1/unused", [topic], ROW,
    )  # fmt: skip
    log_path = workdir / "process.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kafkahooks.cli", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=log, env=bridge_env(bench), cwd=workdir,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 300
            while (seen := loaded_line(log_path.read_text(errors="replace"))) is None:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the bridge did not load the store:\n{tail}")
                time.sleep(0.05)
            load.rss_loaded_mb = procstats.rss_mb(proc.pid)
            time.sleep(settle)
            load.rss_idle_mb = procstats.rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    load.endpoints, load.records = seen[0], seen[1]
    load.seconds.append(seen[2])
    print(
        f"store loaded: {seen[0]:,} endpoints from {seen[1]:,} records in {seen[2]:.2f} s; "
        f"RSS {load.rss_loaded_mb:.0f} MB when loaded, {load.rss_idle_mb:.0f} MB "
        f"{settle:.0f} s later",
        flush=True,
    )


def bridge_env(bench: Bench) -> dict[str, str]:
    from rows import _env

    return _env(bench, ROW)


# -- 2 and 3. CPU per event, fan-out ----------------------------------------------------


@dataclass
class Side:
    name: str
    bench: Bench
    fan: int = 1  # deliveries per event
    runs: list[Result] = field(default_factory=list)

    def cpu(self, r: Result) -> float | None:
        return cpu_us_per_event(r)

    def deliveries_per_s(self, r: Result) -> float | None:
        return r.rate * self.fan if r.rate else None

    def shown(self, r: Result) -> str:
        us, rate = self.cpu(r), self.deliveries_per_s(r)
        if us is None or rate is None:
            return r.status + (f" ({'; '.join(r.notes)})" if r.notes else "")
        per = f"{us:.1f} µs/event" if self.fan == 1 else f"{us / self.fan:.1f} µs/delivery"
        return f"{per}, {rate:,.0f} deliveries/s"

    def best_cpu(self) -> float | None:
        values = [v for r in self.runs if (v := self.cpu(r)) is not None]
        return min(values) if values else None

    def best_rate(self) -> float | None:
        values = [v for r in self.runs if (v := self.deliveries_per_s(r)) is not None]
        return max(values) if values else None


def logged_deliveries(result: Result) -> int:
    path = result.workdir / "nginx" / "access.log"
    if not path.exists():
        return 0
    with path.open(encoding="utf-8", errors="replace") as fh:
        return sum(1 for line in fh if line.split(" ", 3)[2:3] == ["200"])


def measure_rounds(sides: list[Side], rounds: int, load: Load) -> None:
    for n in range(rounds):
        order = sides if n % 2 == 0 else sides[::-1]
        for side in order:
            result = run_row(side.bench, ROW, "fast", attempt=n + 1)
            side.runs.append(result)
            text = (result.workdir / "process.log").read_text(errors="replace")
            if result.instructions is None and (seen := loaded_line(text)) is not None:
                load.seconds.append(seen[2])
                load.peak_rss_mb = max(load.peak_rss_mb, result.rss_mb or 0.0)
            check = ""
            if side.fan > 1 and result.rate:
                check = f" (nginx logged {logged_deliveries(result):,} deliveries)"
            if result.instructions is not None:
                check += f", {result.instructions:,} instructions (whole process)"
            print(f"round {n + 1} {side.name:8} {side.shown(result)}{check}", flush=True)


# -- 4. propagation ----------------------------------------------------------------------


class UriNginx(Nginx):
    """The bench's nginx, logging the request URI too."""

    def _write_conf(self, mode: str) -> Path:
        conf = super()._write_conf(mode)
        text = conf.read_text().replace(
            "$status $request_body", "$status $request_uri $request_body"
        )
        conf.write_text(text)
        return conf

    def arrivals(self) -> list[tuple[float, str, str]]:
        """(arrival, path, replica) of every 200 answer."""
        out: list[tuple[float, str, str]] = []
        path = self.dir / "access.log"
        if not path.exists():
            return out
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                msec, rtime, status, uri, body = line.rstrip("\n").split(" ", 4)
                if status != "200":
                    continue
                try:
                    replica = str(json.loads(body)["replica"])
                except (ValueError, KeyError, TypeError):
                    continue
                out.append((float(msec) - float(rtime), uri, replica))
        return out


@dataclass
class Write:
    at: float  # epoch seconds just before the write
    path: str  # the URL path the write gives
    kind: str  # create | update
    order: int  # for an update: its position among the updates (later paths supersede)


@dataclass
class Propagation:
    writes: list[Write] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # per write: the slower replica, s
    missed: int = 0  # writes some replica never delivered with
    per_replica: dict[str, int] = field(default_factory=dict)  # deliveries seen
    creates: list[float] = field(default_factory=list)
    updates: list[float] = field(default_factory=list)


class Stream:
    """Events produced at a steady rate on a thread until stopped."""

    def __init__(
        self, bootstrap: str, topic: str, rate: float, tenant: Callable[[int], str]
    ) -> None:
        self._producer = workload.producer(bootstrap, linger_ms=5)
        self._topic, self._rate, self._tenant = topic, rate, tenant
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Stream:
        self._thread.start()
        return self

    def _run(self) -> None:
        base, started, i = workload.samples(), time.monotonic(), 0
        while not self._stop.is_set():
            delay = started + i / self._rate - time.monotonic()
            if delay > 0:
                self._producer.poll(0)
                time.sleep(delay)
            key = f"p-{i % 1000:04d}"
            event = workload.call_event(base, key, i)
            event["accountId"] = self._tenant(i)
            self._producer.produce(self._topic, key=key, value=json.dumps(event).encode())
            i += 1
        self._producer.flush(10)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def replica_config(bench: Bench, workdir: Path, group: str, replica: str) -> Path:
    path = routes_file(
        bench, workdir / f"{replica}.yaml", group, "http://127.0.0.1:1/x", [PROP_TOPIC], ROW
    )
    config = json.loads(path.read_text())
    config["routes"][0]["template"] = {**TEMPLATE, "replica": replica}
    path.write_text(json.dumps(config, indent=2))
    return path


def measure_propagation(
    bench: Bench, keyring: Keyring, origin: str, writes: int, spacing: float, rate: float
) -> Propagation:
    workdir = bench.workdir / "propagation"
    workdir.mkdir(parents=True, exist_ok=True)
    creates = max(1, writes // 6)
    tenants = ["prop", *(f"prop-new-{k}" for k in range(creates))]
    workload.create_topics(bench.bootstrap, [PROP_TOPIC])
    nginx = UriNginx(workdir / "nginx", "fast", bench.module, bench.nginx_port).start()
    store = StoreLog(
        {"bootstrap.servers": bench.bootstrap}, STORE_TOPIC, lambda *_: None, name="bench"
    )
    store.write("ep_bench_warmup", None, 30)  # the idempotent producer's first ack is slow
    now = time.time()
    ep = create_endpoint(endpoint_spec(f"{origin}/prop/start", "prop", 0, True), "prop", now=now)
    offset = store.write(ep.id, encode_endpoint(ep, keyring, -1, now), 30)
    # half the events for the updated tenant, half over the tenants that get created
    stream = Stream(
        bench.bootstrap, PROP_TOPIC, rate,
        lambda i: tenants[0] if i % 2 == 0 else tenants[1 + (i // 2) % creates],
    ).start()  # fmt: skip
    group, procs = f"bench-prop-{uuid.uuid4().hex[:6]}", []
    out = Propagation()
    try:
        for replica in ("r1", "r2"):
            config = replica_config(bench, workdir, group, replica)
            log = (workdir / f"{replica}.log").open("wb")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "kafkahooks.cli", "run", "--config", str(config)],
                stdout=subprocess.DEVNULL, stderr=log, env=bridge_env(bench), cwd=workdir,
            ))  # fmt: skip
        _wait_both(nginx, procs)
        update, made = 0, 0
        for n in range(writes):
            now = time.time()
            if n % 6 == 5 and made < creates:
                tenant = tenants[1 + made]
                path = f"/new/{made}"
                new = create_endpoint(
                    endpoint_spec(origin + path, tenant, 0, True), tenant, now=now
                )
                out.writes.append(Write(now, path, "create", -1))
                store.write(new.id, encode_endpoint(new, keyring, -1, now), 30)
                made += 1
            else:
                path = f"/prop/{update}"
                ep = update_endpoint(ep, {"url": origin + path}, now, allow_local=True)
                out.writes.append(Write(now, path, "update", update))
                offset = store.write(ep.id, encode_endpoint(ep, keyring, offset, now), 30)
                update += 1
            time.sleep(spacing)
        time.sleep(3.0)
    finally:
        stream.stop()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        store.close()
        nginx.stop()
    _score_propagation(out, nginx.arrivals())
    return out


def _wait_both(nginx: UriNginx, procs: list[subprocess.Popen[bytes]], timeout: float = 180) -> None:
    """Until nginx logged deliveries from both replicas (its log is flushed every second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a replica exited while starting")
        if {r for _, _, r in nginx.arrivals()} >= {"r1", "r2"}:
            print("both replicas deliver", flush=True)
            return
        time.sleep(0.5)
    raise RuntimeError("the two replicas did not both deliver within {timeout:.0f} s")


def _score_propagation(out: Propagation, arrivals: list[tuple[float, str, str]]) -> None:
    replicas = sorted({r for _, _, r in arrivals})
    for _, _, r in arrivals:
        out.per_replica[r] = out.per_replica.get(r, 0) + 1
    # first arrival per (replica, path)
    first: dict[tuple[str, str], float] = {}
    for at, uri, replica in arrivals:
        key = (replica, uri)
        first[key] = min(at, first.get(key, at))
    updates = [w for w in out.writes if w.kind == "update"]
    for w in out.writes:
        # a later update superseding it counts as delivering with it (or newer)
        later = [u.path for u in updates if u.order >= w.order]
        paths = [w.path] if w.kind == "create" else later
        slowest = 0.0
        for replica in replicas:
            seen = [first[(replica, p)] for p in paths if (replica, p) in first]
            if not seen:
                out.missed += 1
                break
            slowest = max(slowest, min(seen) - w.at)
        else:
            out.latencies.append(slowest)
            (out.creates if w.kind == "create" else out.updates).append(slowest)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# -- the report --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--endpoints", type=int, default=100_000)
    p.add_argument("--tenants", type=int, default=20_000)
    p.add_argument("--fanout-tenants", type=int, default=1_000, help="tenants with 10 endpoints")
    p.add_argument("--events", type=int, default=30_000, help="single-endpoint events (item 2)")
    p.add_argument("--fanout-events", type=int, default=3_000, help="events of 10 deliveries")
    p.add_argument(
        "--active-tenants",
        type=int,
        default=0,
        help="single-endpoint events cycle over this many tenants (default: all of them)",
    )
    p.add_argument("--keys", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3, help="runs of each side (best kept)")
    p.add_argument("--writes", type=int, default=60, help="propagation: store writes")
    p.add_argument("--spacing", type=float, default=0.5, help="propagation: s between writes")
    p.add_argument("--rate", type=float, default=400.0, help="propagation: events/s")
    p.add_argument("--skip", default="", help="comma list of: cpu,propagation")
    p.add_argument(
        "--profile", action="store_true", help="bridges of items 2-3 under cProfile (slower)"
    )
    p.add_argument(
        "--callgrind",
        action="store_true",
        help="bridges of items 2-3 under callgrind: instructions per process (no load, no "
        "propagation; ~40x slower)",
    )
    p.add_argument("--results", default="", help="append the markdown section to this file")
    args = p.parse_args(argv)
    args.skip = set(filter(None, args.skip.split(",")))
    if args.endpoints - args.fanout_tenants * FAN_SIZE < args.tenants - args.fanout_tenants:
        p.error("too few endpoints: every tenant needs at least one")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python bench/endpoints.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    command = command.strip()
    throughput.raise_fd_limit()
    box = dict(report.machine())
    module = ensure_nginx()
    workdir = Path(tempfile.mkdtemp(prefix="kafkahooks-bench-endpoints-"))
    layout = Layout(args.endpoints, args.tenants, args.fanout_tenants, args.active_tenants)
    key_spec = generate_key_spec("bench")
    keyring = Keyring.parse(key_spec)
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    load, sides, prop = Load(), list[Side](), None
    print(f"work dir {workdir}", flush=True)
    with EmbeddedBroker() as broker:
        static = Bench(
            bootstrap=broker.bootstrap, load_topic=SINGLE_TOPIC, events=args.events,
            keys=args.keys, workdir=workdir / "static", module=module,
            events_file=workdir / "unused.jsonl", concurrency=args.concurrency,
            naive_events=0, naive_seconds=0.0, latency_rate=0.0, latency_seconds=0.0,
            row_timeout=600.0, settings={"KAFKAHOOKS_HTTP_PORT": "0"}, nginx_port=port,
            profile=args.profile, callgrind=args.callgrind, customize=static_route,
        )  # fmt: skip
        tenant = replace(
            static, workdir=workdir / "tenant", customize=lambda c: tenant_route(key_spec, c)
        )
        write_store(broker.bootstrap, layout, origin, keyring)
        if not args.callgrind:  # a load under callgrind says nothing of its seconds
            measure_load(tenant, load)
        if "cpu" not in args.skip:
            load_events(
                broker.bootstrap, SINGLE_TOPIC, tenant_events(args.events, args.keys, layout.single)
            )
            fan_events = tenant_events(
                args.fanout_events, min(args.keys, args.fanout_events), layout.fanned
            )
            load_events(broker.bootstrap, FAN_TOPIC, fan_events)
            fan = replace(
                tenant, workdir=workdir / "fanout", load_topic=FAN_TOPIC, events=args.fanout_events
            )
            sides = [Side("static", static), Side("tenant", tenant), Side("fan-out", fan, FAN_SIZE)]
            measure_rounds(sides, args.rounds, load)
            if args.callgrind:  # seconds under valgrind say nothing: no summary of them
                for side in sides:
                    counts = ", ".join(f"{r.instructions or 0:,}" for r in side.runs)
                    print(f"{side.name}: {counts} instructions (whole process)")
                return 0
        if "propagation" not in args.skip and not args.callgrind:
            prop = measure_propagation(
                tenant, keyring, origin, args.writes, args.spacing, args.rate
            )
    text = summary(args, command, box, load, sides, prop)
    print("\n" + text)
    if args.results:
        with open(args.results, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)
        print(f"appended to {args.results}")
    return 0


def summary(
    args: argparse.Namespace,
    command: str,
    box: dict[str, str],
    load: Load,
    sides: list[Side],
    prop: Propagation | None,
) -> str:
    per_tenant = (args.endpoints - args.fanout_tenants * FAN_SIZE) / (
        args.tenants - args.fanout_tenants
    )
    lines = [
        "## Customer endpoints (issue 15)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {box.get('CPU model', '?')}, {box.get('CPUs (nproc)', '?')} cores **shared "
        f"with other agents' builds and tests** (load average at start "
        f"{box.get('load average at start', '?')}); Python {box.get('Python', '?')}; embedded "
        "test broker (Tansu); one nginx origin, every endpoint a distinct path on it.",
        "",
        f"Store: {args.endpoints:,} endpoints for {args.tenants:,} tenants "
        f"({args.fanout_tenants:,} tenants with {FAN_SIZE} endpoints, the others with "
        f"{per_tenant:.1f} "
        "on average, one of which takes the events' type); each with one signing secret, a "
        "plain header and a description, its URL path and secret encrypted (AES-256-GCM).",
        "",
        "| figure | seen | target |",
        "|---|---|---|",
    ]
    if load.seconds:
        s = sorted(load.seconds)
        lines.append(
            f'| store load ("endpoint store loaded"), {load.endpoints:,} endpoints from '
            f"{load.records:,} records in the topic | {s[0]:.2f} s best, "
            f"{statistics.median(s):.2f} s median, {s[-1]:.2f} s worst of {len(s)} bridge "
            f"starts | ≤ 10 s {'met' if s[-1] <= 10 else 'MISSED'} |"
        )
        lines.append(
            f"| RSS of the loaded replica | {load.rss_loaded_mb:.0f} MB when loaded, "
            f"{load.rss_idle_mb:.0f} MB 5 s later (group joined, idle); peak while delivering "
            f"{load.peak_rss_mb:.0f} MB | ≤ 300 MB "
            f"{'met' if max(load.rss_idle_mb, load.peak_rss_mb) <= 300 else 'MISSED'} |"
        )
    by = {s.name: s for s in sides}
    if sides:
        st, te, fo = by["static"], by["tenant"], by["fan-out"]
        cs, ct = st.best_cpu(), te.best_cpu()
        if cs and ct:
            lines.append(
                f"| CPU per event, 1 of {args.endpoints:,} endpoints matching vs one static "
                f"route (best of {args.rounds}) | tenant {ct:.1f} µs, static {cs:.1f} µs: "
                f"tenant throughput = {cs / ct:.0%} of static | ≥ 90% "
                f"{'met' if cs / ct >= 0.9 else 'MISSED'} |"
            )
        rt, rf = te.best_rate(), fo.best_rate()
        if rt and rf:
            lines.append(
                f"| fan-out: deliveries/s, tenant with {FAN_SIZE} endpoints vs 1 (best of "
                f"{args.rounds}) | {rf:,.0f} vs {rt:,.0f}: {rf / rt:.0%} | ≥ 80% "
                f"{'met' if rf / rt >= 0.8 else 'MISSED'} |"
            )
    if prop is not None and prop.latencies:
        lat = prop.latencies
        lines.append(
            f"| propagation, store write → every running replica (2) delivers with it, "
            f"{len(prop.writes)} writes ({len(prop.creates)} creates, {len(prop.updates)} "
            f"URL updates) | p50 {statistics.median(lat) * 1000:.0f} ms, p99 "
            f"{pct(lat, 0.99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms"
            f"{f'; {prop.missed} writes never seen' if prop.missed else ''} | p99 ≤ 2 s "
            f"{'met' if pct(lat, 0.99) <= 2 and not prop.missed else 'MISSED'} |"
        )
    lines += ["", "Every run:", ""]
    for side in sides:
        runs = ", ".join(side.shown(r) for r in side.runs)
        lines.append(f"- {side.name}: {runs}")
    if prop is not None:
        shown = {k: f"{v:,}" for k, v in sorted(prop.per_replica.items())}
        parts = []
        if prop.creates:
            parts.append(f"creates p50 {statistics.median(prop.creates) * 1000:.0f} ms")
        if prop.updates:
            parts.append(f"updates p50 {statistics.median(prop.updates) * 1000:.0f} ms")
        lines.append(
            f"- propagation: deliveries per replica {shown}; {', '.join(parts)}; "
            f"events at {args.rate:.0f}/s, a write every {args.spacing:g} s"
        )
    lines += [
        "",
        "Method: CPU per event = the bridge's CPU seconds (/proc, all threads) from the first "
        "request nginx saw to the moment the group's committed offsets covered every event, ÷ "
        "events (as `bench/cpu_ab.py`); the sides run alternately, each with a fresh group "
        "and nginx (same port), and the best run of each counts. Deliveries/s = events ÷ that "
        f"interval * deliveries per event ({FAN_SIZE} for fan-out). Store load: the bridge's "
        "own log line; the records count includes superseded versions and the markers "
        "(and their tombstones) of earlier loads, since the test broker never compacts. "
        "Propagation: the time of each write (taken just before it) to the first request "
        "nginx logged ($msec - $request_time) with the written path from each replica; an "
        "update counts as delivered by a replica once it delivered with that path or a later "
        "one.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
