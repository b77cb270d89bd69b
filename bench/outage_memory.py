"""Memory during a receiver outage with a large backlog (issue 4).

Produces 1,000,000 small events, starts kafkahooks against an nginx that
answers 503 for --outage seconds (then 200), samples the bridge's resident
memory every second, and reports the peak during the outage (target
≤ 300 MB), whether the backlog then drains, and commits/s per partition
(target ≤ 2)::

    .venv/bin/python bench/outage_memory.py                 # 1,000,000 events, 60 s
    .venv/bin/python bench/outage_memory.py --events 200000 --outage 20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import procstats
import workload
from nginx_receiver import Nginx, ensure_nginx

from kafkahooks.demo.broker import EmbeddedBroker

TOPIC = "bench.outage"
TEMPLATE = {"event": "{{ value.event }}", "callId": "{{ key }}", "seq": "{{ value.seq }}"}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--keys", type=int, default=10_000)
    p.add_argument("--outage", type=float, default=60.0, help="seconds of 503 answers")
    p.add_argument("--drain-timeout", type=float, default=600.0, help="give up draining after (s)")
    p.add_argument("--concurrency", type=int, default=200, help="KAFKAHOOKS_MAX_IN_FLIGHT")
    p.add_argument(
        "--max-attempts",
        type=int,
        default=100,
        help="route retry.max_attempts: enough to outlast the outage",
    )
    p.add_argument("--keep", action="store_true", help="keep the work dir")
    return p.parse_args()


def routes(bootstrap: str, url: str, path: Path, max_attempts: int) -> Path:
    route = {
        "name": "outage",
        "topics": [TOPIC],
        "template": TEMPLATE,
        "endpoint": {"url": url, "timeout": 10},
        "signing": {"scheme": "hmac-sha256", "secret": "bench-secret"},
        "retry": {"max_attempts": max_attempts, "initial_backoff": 0.5, "max_backoff": 5},
        "ordering": "key",
    }
    config = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": "bench-outage",
            "properties": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000},
        },
        "routes": [route],
    }
    path.write_text(json.dumps(config, indent=2))
    return path


@dataclass
class Samples:
    rss: list[tuple[float, float]] = field(default_factory=list)  # (t, MB), every second
    committed: list[tuple[float, int]] = field(default_factory=list)
    changes: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    last: dict[tuple[str, int], int] = field(default_factory=dict)
    next_rss: float = 0.0

    def take(self, now: float, pid: int, watcher: workload.CommittedWatcher) -> int:
        if now >= self.next_rss:
            self.rss.append((now, procstats.rss_mb(pid)))
            self.next_rss = now + 1.0
        offsets = watcher.committed()
        for tp, offset in offsets.items():
            if offset != self.last.get(tp, 0):
                self.changes.setdefault(tp, []).append(now)
            self.last[tp] = offset
        total = sum(offsets.values())
        self.committed.append((now, total))
        return total

    def peak(self, start: float, end: float) -> float:
        return max((mb for t, mb in self.rss if start <= t <= end), default=0.0)

    def commits_per_s(self, start: float, end: float) -> tuple[float, int]:
        """(mean over the interval, most in any one second) for the busiest partition."""
        mean, most = 0.0, 0
        for times in self.changes.values():
            inside = [t for t in times if start <= t <= end]
            mean = max(mean, len(inside) / max(end - start, 1e-9))
            most = max(
                most, max((sum(1 for u in inside if t <= u < t + 1) for t in inside), default=0)
            )
        return mean, most


def first_request(nginx: Nginx, proc: subprocess.Popen[bytes], timeout: float = 60) -> float:
    """When the bridge's first request reached nginx (its log is flushed every second)."""
    log, deadline = nginx.dir / "access.log", time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and log.stat().st_size > 0:
            return float(log.read_text().split(" ", 2)[0])
        time.sleep(0.2)
    raise RuntimeError("the bridge sent no request (see its log)")


def run(args: argparse.Namespace, workdir: Path) -> int:
    module = ensure_nginx()
    with EmbeddedBroker() as broker:
        started = time.monotonic()
        workload.create_topics(broker.bootstrap, [TOPIC])
        count = workload.produce_all(
            broker.bootstrap, TOPIC, workload.small_events(args.events, args.keys)
        )
        print(f"produced {count:,} events in {time.monotonic() - started:.1f} s", flush=True)
        nginx = Nginx(workdir / "nginx", "down", module).start()
        config = routes(broker.bootstrap, nginx.url, workdir / "routes.yaml", args.max_attempts)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKAHOOKS_")}
        env |= {
            "KAFKAHOOKS_ALLOW_LOCAL_TARGETS": "true",
            "KAFKAHOOKS_LOG_FORMAT": "text",
            "KAFKAHOOKS_MAX_IN_FLIGHT": str(args.concurrency),
        }
        log = (workdir / "bridge.log").open("wb")
        cmd = [sys.executable, "-m", "kafkahooks.cli", "run", "--config", str(config)]
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, cwd=workdir)
        watcher = workload.CommittedWatcher(broker.bootstrap, "bench-outage", [TOPIC])
        try:
            return measure(args, nginx, proc, watcher, broker.bootstrap, count)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            watcher.close()
            nginx.stop()
            log.close()


def measure(
    args: argparse.Namespace,
    nginx: Nginx,
    proc: subprocess.Popen[bytes],
    watcher: workload.CommittedWatcher,
    bootstrap: str,
    count: int,
) -> int:
    samples = Samples()
    outage_start = first_request(nginx, proc)
    outage_end = outage_start + args.outage
    print(f"receiver answers 503 for {args.outage:.0f} s ...", flush=True)
    while time.time() < outage_end and proc.poll() is None:
        samples.take(time.time(), proc.pid, watcher)
        time.sleep(0.05)
    committed_in_outage = samples.committed[-1][1] if samples.committed else 0
    nginx.switch("up")
    print("receiver answers 200; draining ...", flush=True)
    drained_at, deadline = 0.0, time.time() + args.drain_timeout
    while time.time() < deadline and proc.poll() is None:
        now = time.time()
        if samples.take(now, proc.pid, watcher) >= count:
            drained_at = now
            break
        time.sleep(0.05)
    end = drained_at or time.time()
    dead = (
        sum(workload.high_watermarks(bootstrap, f"{TOPIC}.dlq").values())
        if _has_dlq(bootstrap)
        else 0
    )
    refused = sum(1 for hit in nginx.hits() if hit.status == 503)
    report(
        args,
        samples,
        (outage_start, outage_end, end),
        drained_at,
        count,
        (committed_in_outage, dead, refused),
        proc,
    )
    return 0 if drained_at and samples.peak(outage_start, outage_end) <= 300 else 1


def _has_dlq(bootstrap: str) -> bool:
    from confluent_kafka.admin import AdminClient

    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    return f"{TOPIC}.dlq" in topics


def report(
    args: argparse.Namespace,
    samples: Samples,
    times: tuple[float, float, float],
    drained_at: float,
    count: int,
    counts: tuple[int, int, int],
    proc: subprocess.Popen[bytes],
) -> None:
    outage_start, outage_end, end = times
    committed_in_outage, dead, refused = counts
    in_outage = [mb for t, mb in samples.rss if outage_start <= t <= outage_end]
    peak_outage = max(in_outage, default=0.0)
    peak_all = max((mb for _, mb in samples.rss), default=0.0)
    hwm = procstats.peak_rss_mb(proc.pid)
    mean, most = samples.commits_per_s(outage_end, end)
    committed = samples.committed[-1][1] if samples.committed else 0
    verdict = "PASS" if peak_outage <= 300 else "FAIL"
    lines = [
        ("events waiting", f"{count:,}"),
        ("outage", f"{args.outage:.0f} s of 503"),
        ("RSS at outage start / end", _span(in_outage)),
        ("peak RSS during outage", f"{peak_outage:.0f} MB   target <= 300 MB: {verdict}"),
        ("peak RSS overall (sampled/HWM)", f"{peak_all:.0f} MB / {hwm:.0f} MB"),
        ("committed during outage", f"{committed_in_outage:,}"),
        ("requests answered 503", f"{refused:,}"),
        ("dead-lettered", f"{dead:,}"),
    ]
    if drained_at:
        took = drained_at - outage_end
        rate = (count - committed_in_outage) / took
        lines.append(("backlog drained", f"yes, in {took:.1f} s ({rate:,.0f} events/s)"))
    else:
        rate = (committed - committed_in_outage) / max(end - outage_end, 1e-9)
        done = f"{committed:,}/{count:,} committed in {args.drain_timeout:.0f} s ({rate:,.0f}/s)"
        lines.append(("backlog drained", f"NO: {done}"))
    c_verdict = "PASS" if mean <= 2 else "FAIL"
    lines.append(
        (
            "commits/s per partition (drain)",
            f"mean {mean:.1f}, most in one second {most}   target <= 2: {c_verdict}",
        )
    )
    print()
    for label, value in lines:
        print(f"{label:32} {value}")


def _span(rss: list[float]) -> str:
    return f"{rss[0]:.0f} MB / {rss[-1]:.0f} MB" if rss else "-"


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kafkahooks-outage-"))
    try:
        return run(args, workdir)
    finally:
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
