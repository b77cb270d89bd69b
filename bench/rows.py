"""The measured rows: which program runs, and how one row is measured.

Every row runs as its own process against its own nginx.  A Kafka row
consumes the preloaded topic with a fresh consumer group; it is measured from
the first request nginx saw to the moment the group's committed offsets
(polled at 20 Hz by a consumer that never joins the group) cover the target.
Then a short latency phase produces events at a steady rate to a second,
idle topic, and their record timestamp → nginx arrival gives p50/p99.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import procstats
import workload
from nginx_receiver import Delivered, Nginx, analyse

BENCH = Path(__file__).resolve().parent
POLL = 0.05  # committed-offset polling period (s)
STALL = 60.0  # a row whose committed offsets stop moving this long has failed
SLOWER = 10  # the stall and stop limits' factor under callgrind
CALLGRIND_OUT = "callgrind.out"


@dataclass(frozen=True)
class Row:
    name: str  # as printed
    option: str  # as given to --rows
    kind: str  # naive | hand | limit | mqb | kh
    ordering: str = "key"
    batch: bool = False
    concurrency: int | None = None  # None: the run's --concurrency
    receivers: tuple[str, ...] = ("fast", "slow")


ROWS = [
    Row("naive", "naive", "naive", concurrency=1),
    Row("hand-written", "hand-written", "hand"),
    Row("limit", "limit", "limit"),
    Row("mq-bridge", "mq-bridge", "mqb", concurrency=64),
    Row("kafkahooks key", "key", "kh"),
    Row("kafkahooks none", "none", "kh", ordering="none"),
    Row("kafkahooks batch", "batch", "kh", batch=True),
    Row("kafkahooks key c1000", "c1000", "kh", concurrency=1000, receivers=("slow",)),
]

TEMPLATE: dict[str, Any] = {
    "event": "{{ value.event }}",
    "type": "{{ value.type }}",
    "companionId": "{{ value.companionId }}",
    "callId": "{{ key }}",
    "seq": "{{ value.seq }}",
    "data": {
        "status": "{{ value.data.status }}",
        "startedAt": "{{ value.data.startedAt }}",
        "endedAt": "{{ value.data.endedAt }}",
        "endedReason": "{{ value.data.endedReason }}",
        "phoneNumber": "{{ value.data.phoneNumber }}",
        "messages": "{{ value.data.messages }}",
    },
    "meta": {
        "eventId": "{{ event_id }}",
        "source": "{{ topic }}/{{ partition }}@{{ offset }}",
        "occurredAt": "{{ timestamp_iso }}",
    },
}
BATCH = {"max_events": 100, "max_wait_ms": 20}


@dataclass
class Bench:
    """What every row of one run shares."""

    bootstrap: str
    load_topic: str
    events: int
    keys: int
    workdir: Path
    module: str
    events_file: Path
    concurrency: int
    naive_events: int
    naive_seconds: float
    latency_rate: float
    latency_seconds: float
    row_timeout: float
    profile: bool = False  # kafkahooks rows under cProfile (slower; for finding hot spots)
    # kafkahooks rows under valgrind's callgrind (~40x slower): the process's instructions,
    # which do not move with the machine's load as its CPU seconds do
    callgrind: bool = False
    settings: dict[str, str] = field(default_factory=dict)  # --set, for the kafkahooks rows
    # changes a kafkahooks row's routes file before it is written (bench/endpoints.py makes
    # the route deliver to customer endpoints)
    customize: Callable[[dict[str, Any]], None] | None = None
    nginx_port: int | None = None  # every row's nginx on this port (None: a free one each)

    @property
    def slowdown(self) -> int:
        """The factor of the stall and stop limits: the process runs slower under a tool."""
        return SLOWER if self.callgrind else 1


@dataclass
class Result:
    row: Row
    receiver: str
    status: str = "ok"  # ok | partial | timeout | n/a (...) | failed: ...
    events: int = 0
    seconds: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    latency_events: int = 0
    rss_mb: float | None = None
    cpu_pct: float | None = None
    commits_per_s: float | None = None  # per partition, the busiest partition
    violations: int | None = None
    missing: int = 0
    duplicates: int = 0
    notes: list[str] = field(default_factory=list)
    # raw measurements, scored against the first delivery once nginx's log is read
    done_at: float = 0.0
    own_commits: int | None = None
    cpu_samples: list[tuple[float, float]] = field(default_factory=list, repr=False)
    commit_changes: dict[tuple[str, int], list[float]] = field(default_factory=dict, repr=False)
    timeline: list[tuple[float, int]] = field(default_factory=list, repr=False)
    ahead: int = 0  # most events committed before nginx had seen them (must be 0)
    instructions: int | None = None  # the whole process's, under ``Bench.callgrind``
    workdir: Path = field(default=Path("."), repr=False)  # this run's logs

    @property
    def rate(self) -> float | None:
        if self.status not in ("ok", "partial") or self.seconds <= 0:
            return None
        return self.events / self.seconds


def routes_file(
    bench: Bench, path: Path, group: str, url: str, topics: list[str], row: Row
) -> Path:
    route: dict[str, Any] = {
        "name": "bench",
        "topics": topics,
        "events": ["status-changed"],
        "template": TEMPLATE,
        "on_missing": "omit",
        "endpoint": {"url": url, "timeout": 10},
        "signing": {"scheme": "hmac-sha256", "secret": "bench-secret", "header": "x-signature"},
        "retry": {"max_attempts": 5, "initial_backoff": 0.2, "max_backoff": 5},
        "ordering": row.ordering,
    }
    if row.batch:
        route["batch"] = BATCH
    config = {
        "kafka": {
            "bootstrap_servers": bench.bootstrap,
            "group_id": group,
            "properties": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000},
        },
        "routes": [route],
    }
    if bench.customize is not None and row.kind == "kh":
        bench.customize(config)
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def batch_supported(bench: Bench) -> tuple[bool, str]:
    """Whether this kafkahooks accepts the route option ``batch``."""
    row = next(r for r in ROWS if r.batch)
    path = routes_file(
        bench,
        bench.workdir / "batch-check.yaml",
        "g",
        "http://127.0.0.1:1/",
        [bench.load_topic],
        row,
    )
    check = subprocess.run(
        [sys.executable, "-m", "kafkahooks.cli", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=bench.workdir,
        env=_env(bench, row),
    )
    said = (check.stderr or check.stdout).strip()
    # any other complaint is not about batching: let the row run and show it
    return check.returncode == 0 or "batch" not in said, said


SCRIPTS = {"naive": "naive_loop.py", "hand": "handwritten_loop.py", "mqb": "mqbridge_route.py"}


def _command(
    bench: Bench, row: Row, workdir: Path, group: str, url: str, topics: list[str]
) -> list[str]:
    py, joined = sys.executable, ",".join(topics)
    if row.kind in SCRIPTS:
        args = [bench.bootstrap, group, url, joined, str(row.concurrency or bench.concurrency)]
        return [py, str(BENCH / SCRIPTS[row.kind]), *args]
    config = routes_file(bench, workdir / "routes.yaml", group, url, topics, row)
    profile = ["-m", "cProfile", "-o", str(workdir / "profile.out")] if bench.profile else []
    tool = []
    if bench.callgrind:
        tool = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={workdir / CALLGRIND_OUT}"]
    return [*tool, py, *profile, "-m", "kafkahooks.cli", "run", "--config", str(config)]


def _env(bench: Bench, row: Row) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKAHOOKS_")}
    env.update(
        {
            "KAFKAHOOKS_ALLOW_LOCAL_TARGETS": "true",
            "KAFKAHOOKS_MAX_IN_FLIGHT": str(row.concurrency or bench.concurrency),
            "KAFKAHOOKS_LOG_LEVEL": "INFO",
            "KAFKAHOOKS_LOG_FORMAT": "text",
            "MQ_BRIDGE_LOG": "warn",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if row.kind == "kh":
        env.update(bench.settings)
    if bench.callgrind:
        env["PYTHONHASHSEED"] = "0"  # the same dict layouts, so the same instructions
    return env


def run_row(bench: Bench, row: Row, receiver: str, attempt: int = 1) -> Result:
    workdir = bench.workdir / f"{row.option}-{receiver}{f'-{attempt}' if attempt > 1 else ''}"
    result = Result(row, receiver, workdir=workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    nginx = Nginx(workdir / "nginx", receiver, bench.module, bench.nginx_port).start()
    try:
        if row.kind == "limit":
            _run_limit(bench, row, nginx, workdir, result)
        else:
            _run_consumer(bench, row, nginx, workdir, result)
    finally:
        nginx.stop()
    if row.kind != "limit" and result.status in ("ok", "partial"):
        _score(bench, result, analyse(nginx.hits()))
    if (workdir / "profile.out").exists():
        _profile_summary(workdir)
    return result


def _profile_summary(workdir: Path, top: int = 25) -> None:
    import io
    import pstats

    text = io.StringIO()
    pstats.Stats(str(workdir / "profile.out"), stream=text).sort_stats("tottime").print_stats(top)
    (workdir / "profile.txt").write_text(text.getvalue())
    print(f"\n  profile (by own time): {workdir / 'profile.txt'}")


# -- limit: no Kafka ---------------------------------------------------------
def _run_limit(bench: Bench, row: Row, nginx: Nginx, workdir: Path, result: Result) -> None:
    config = routes_file(bench, workdir / "routes.yaml", "unused", nginx.url, ["bench"], row)
    cmd = [
        sys.executable,
        str(BENCH / "limit_client.py"),
        str(bench.events_file),
        str(config),
        nginx.url,
        str(row.concurrency or bench.concurrency),
    ]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=bench.row_timeout, cwd=workdir
        )
    except subprocess.TimeoutExpired:
        result.status = "timeout"
        return
    if done.returncode != 0:
        result.status = f"failed: {_last_line(done.stderr)}"
        return
    out = json.loads(done.stdout.strip().splitlines()[-1])
    result.events, result.seconds = out["sent"], out["last"] - out["first"]
    result.rss_mb = out["rss_kb"] / 1024
    result.cpu_pct = 100 * out["cpu"] / max(result.seconds, 1e-9)
    if out["failed"]:
        result.notes.append(f"{out['failed']} non-2xx answers")
    if out["bodies"] != "kafkahooks":
        result.notes.append("bodies rendered by hand (kafkahooks route API changed)")


# -- Kafka rows --------------------------------------------------------------
@dataclass
class _Watch:
    done_at: float = 0.0
    committed: int = 0
    cpu: list[tuple[float, float]] = field(default_factory=list)
    changes: dict[tuple[str, int], list[float]] = field(default_factory=dict)


def _run_consumer(bench: Bench, row: Row, nginx: Nginx, workdir: Path, result: Result) -> None:
    group = f"bench-{row.option}-{result.receiver}-{uuid.uuid4().hex[:6]}"
    latency_topic = f"bench.latency.{row.option}.{result.receiver}.{uuid.uuid4().hex[:6]}"
    workload.create_topics(bench.bootstrap, [latency_topic])
    topics = [bench.load_topic, latency_topic]
    cmd = _command(bench, row, workdir, group, nginx.url, topics)
    log, out = (workdir / "process.log").open("wb"), (workdir / "stdout.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=out, stderr=log, env=_env(bench, row), cwd=workdir)
    watcher = workload.CommittedWatcher(bench.bootstrap, group, topics)
    try:
        naive = row.kind == "naive"
        target = min(bench.events, bench.naive_events) if naive else bench.events
        watch = _watch(bench, proc, watcher, target, bench.naive_seconds if naive else None, result)
        result.events = watch.committed
        if result.status in ("ok", "partial") and not naive and bench.latency_seconds > 0:
            _latency_phase(bench, proc, watcher, latency_topic, result, workdir)
        result.rss_mb = procstats.peak_rss_mb(proc.pid)
        result.cpu_samples, result.commit_changes = watch.cpu, watch.changes
    finally:
        _stop(proc, result, 30.0 * bench.slowdown)
        watcher.close()
        log.close()
        out.close()
    if bench.callgrind:
        result.instructions = _instructions(workdir / CALLGRIND_OUT)
    _own_report((workdir / "stdout.log").read_text(errors="replace"), result)
    if result.status.startswith(("failed", "stalled", "timeout")):
        last = _last_error((workdir / "process.log").read_text(errors="replace"))
        result.notes.append(f"process log ({workdir.name}/process.log): {last}")


def _watch(
    bench: Bench,
    proc: subprocess.Popen[bytes],
    watcher: workload.CommittedWatcher,
    target: int,
    cap: float | None,
    result: Result,
) -> _Watch:
    watch, last = _Watch(), dict[tuple[str, int], int]()
    deadline, first_progress = time.time() + bench.row_timeout, 0.0
    moved_at, seen = time.time(), -1
    stall = STALL * bench.slowdown
    while True:
        now = time.time()
        committed = watcher.committed()
        watch.cpu.append((now, procstats.cpu_seconds(proc.pid)))
        for tp, offset in committed.items():
            if tp[0] == bench.load_topic and offset != last.get(tp, 0):
                watch.changes.setdefault(tp, []).append(now)
            last[tp] = offset
        watch.committed = sum(o for (t, _), o in committed.items() if t == bench.load_topic)
        result.timeline.append((now, watch.committed))
        first_progress = first_progress or (now if watch.committed else 0.0)
        if watch.committed >= target:
            break
        if proc.poll() is not None:
            result.status = f"failed: exited with {proc.returncode}"
            break
        if cap and first_progress and now - first_progress >= cap:
            result.status = "partial"
            result.notes.append(f"stopped after {cap:.0f} s")
            break
        if watch.committed != seen:
            moved_at, seen = now, watch.committed
        if now - moved_at > stall:
            result.status = "stalled"
            result.notes.append(
                f"{watch.committed:,}/{target:,} committed, then {stall:.0f} s without progress"
            )
            break
        if now > deadline:
            result.status = "timeout"
            result.notes.append(
                f"{watch.committed}/{target} committed in {bench.row_timeout:.0f} s"
            )
            break
        time.sleep(POLL)
    watch.done_at = result.done_at = now
    return watch


def _latency_phase(
    bench: Bench,
    proc: subprocess.Popen[bytes],
    watcher: workload.CommittedWatcher,
    topic: str,
    result: Result,
    workdir: Path,
) -> None:
    rate = bench.latency_rate
    count = max(10, int(rate * bench.latency_seconds))
    items = list(workload.events(count, min(1000, count), prefix="lat"))
    produced = workload.Produced()
    workload.produce_paced(bench.bootstrap, topic, items, rate, produced)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if sum(o for (t, _), o in watcher.committed().items() if t == topic) >= count:
            break
        time.sleep(POLL)
    else:
        result.notes.append("latency phase did not finish")
    (workdir / "latency-timestamps.json").write_text(
        json.dumps([[c, s, ts] for (c, s), ts in produced.timestamps.items()])
    )
    result.latency_events = count


def _stop(proc: subprocess.Popen[bytes], result: Result, wait: float = 30.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        result.notes.append(f"did not stop within {wait:.0f} s of SIGTERM")


def _instructions(path: Path) -> int | None:
    """The instructions a callgrind output file counts (its ``summary:`` line)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    found = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def _own_report(stdout: str, result: Result) -> None:
    """The hand-made loops print one JSON line with their own commit count."""
    lines = stdout.strip().splitlines()
    if lines and lines[-1].startswith("{"):
        result.own_commits = json.loads(lines[-1]).get("commits")


def _score(bench: Bench, result: Result, seen: Delivered) -> None:
    done_at = result.done_at
    first = min((t for (c, _), t in seen.arrivals.items() if c.startswith("call-")), default=0.0)
    result.seconds = done_at - first if first else 0.0
    loaded = sum(1 for c, _ in seen.arrivals if c.startswith("call-"))
    result.missing = max(0, result.events - loaded)
    result.duplicates, result.violations = seen.duplicates, seen.order_violations
    if seen.requests and seen.requests != seen.events:
        result.notes.append(f"{seen.events:,} events in {seen.requests:,} requests")
    if seen.unparsed:
        result.notes.append(f"{seen.unparsed} bodies without callId/seq")
    _latencies(bench, result, seen)
    _ahead(result, sorted(t for (c, _), t in seen.arrivals.items() if c.startswith("call-")))
    cpu = result.cpu_samples
    start = [c for t, c in cpu if t <= first] or [cpu[0][1] if cpu else 0.0]
    end = [c for t, c in cpu if t <= done_at] or [0.0]
    if result.seconds > 0:
        result.cpu_pct = 100 * (end[-1] - start[-1]) / result.seconds
        changes = result.commit_changes.values()
        busiest = max((sum(1 for t in ts if first <= t <= done_at) for ts in changes), default=0)
        result.commits_per_s = busiest / result.seconds
        if result.row.kind == "naive" and result.own_commits is not None:
            # 20 Hz polling cannot see per-message commits: use the loop's own count
            # (it keeps running a moment after the target, hence the cap)
            result.commits_per_s = min(result.own_commits, result.events) / result.seconds


def _ahead(result: Result, arrivals: list[float]) -> None:
    """At-least-once seen from outside: committed events must have reached nginx."""
    slack = 0.005  # nginx caches its clock per event-loop turn
    result.ahead = max(
        (n - bisect.bisect_right(arrivals, t + slack) for t, n in result.timeline), default=0
    )
    if result.ahead > 0:
        result.notes.append(f"committed up to {result.ahead:,} events before nginx received them")


def _latencies(bench: Bench, result: Result, seen: Delivered) -> None:
    path = result.workdir / "latency-timestamps.json"
    if not path.exists():
        return
    stamps = {(c, s): ts for c, s, ts in json.loads(path.read_text())}
    lat = sorted((seen.arrivals[k] * 1000 - ts) for k, ts in stamps.items() if k in seen.arrivals)
    if len(lat) >= 2:
        result.p50_ms = statistics.median(lat)
        result.p99_ms = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    if len(lat) < len(stamps):
        result.notes.append(f"latency: {len(stamps) - len(lat)} of {len(stamps)} not seen")


def _last_error(text: str) -> str:
    """The last line that names an exception, else the last line."""
    lines = [x for x in text.strip().splitlines() if x.strip()]
    errors = [x for x in lines if "Error" in x or "Exception" in x]
    return (errors or lines or [""])[-1].strip()[:200]


def _last_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1][:200] if lines else ""
