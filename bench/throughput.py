"""Throughput benchmark (issue 4): kafkahooks against the limit, a naive loop,
a hand-written loop and a native peer, for a fast and a 50 ms receiver.

One command::

    make bench-throughput                      # everything, 100,000 events
    .venv/bin/python bench/throughput.py --events 20000 --rows naive,limit,key --receivers fast

It starts the embedded broker, loads the events once (call-status JSON,
4 partitions, ~10,000 keys), then runs each row as its own process against
its own nginx, prints one table per receiver and writes bench/results.md.
Figures on a shared 2-core machine are noisy: compare rows of the same run.
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import report
import workload
from nginx_receiver import ensure_nginx
from rows import ROWS, Bench, Result, Row, batch_supported, run_row

from kafkahooks.demo.broker import EmbeddedBroker

LOAD_TOPIC = "bench.calls"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = [r.option for r in ROWS]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=100_000, help="events loaded (default 100,000)")
    p.add_argument("--keys", type=int, default=10_000, help="distinct keys (calls)")
    p.add_argument("--rows", default=",".join(names), help=f"comma list of: {','.join(names)}")
    p.add_argument("--receivers", default="fast,slow", help="comma list of: fast,slow")
    p.add_argument(
        "--concurrency", type=int, default=200, help="in flight (hand-written, limit, kafkahooks)"
    )
    p.add_argument("--naive-events", type=int, default=5_000, help="the naive row stops here...")
    p.add_argument("--naive-seconds", type=float, default=20.0, help="...or after this long")
    p.add_argument("--latency-rate", type=float, default=1_000.0, help="latency phase: events/s")
    p.add_argument("--latency-seconds", type=float, default=3.0, help="latency phase: duration")
    p.add_argument("--row-timeout", type=float, default=300.0, help="give up on a row after (s)")
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs, nginx logs)")
    p.add_argument(
        "--profile", action="store_true", help="run kafkahooks under cProfile (implies --keep)"
    )
    p.add_argument(
        "--results",
        default=str(Path(__file__).with_name("results.md")),
        help="markdown output ('' to skip)",
    )
    p.add_argument(
        "--best-of", type=int, default=3, metavar="N",
        help="run each row N times and keep its best (default 3): a shared machine only "
        "ever slows a row down",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KAFKAHOOKS_X=V",
        help="a setting for the kafkahooks rows (repeatable), e.g. KAFKAHOOKS_WINDOW=20000",
    )
    args = p.parse_args(argv)
    args.settings = dict(item.split("=", 1) for item in args.set)
    args.keep = args.keep or args.profile
    args.rows = [r for r in ROWS if r.option in args.rows.split(",")]
    args.receivers = [x for x in ("fast", "slow") if x in args.receivers.split(",")]
    if not args.rows or not args.receivers:
        p.error("no rows or receivers selected")
    return args


def raise_fd_limit() -> None:
    # concurrency 1,000 needs more sockets than a default soft limit of 1,024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 20_000)), hard))


def load(bench: Bench) -> None:
    started = time.monotonic()
    workload.create_topics(bench.bootstrap, [bench.load_topic])
    items = list(workload.events(bench.events, bench.keys))
    with bench.events_file.open("w", encoding="utf-8") as fh:  # for the limit row
        fh.writelines(json.dumps([key, value.decode()]) + "\n" for key, value in items)
    count = workload.produce_all(bench.bootstrap, bench.load_topic, iter(items))
    took = time.monotonic() - started
    print(f"loaded {count:,} events into {bench.load_topic} in {took:.1f} s", flush=True)


METHOD = [
    "events/s: events committed ÷ (time the group's committed offsets covered them - first "
    "request seen by nginx); committed offsets are polled at 20 Hz by a consumer that never "
    "joins the group. `limit`: requests ÷ (last answer - first request) in its own process.",
    "naive stops after --naive-events or --naive-seconds (marked *); it is far slower.",
    "latency p50/p99: after the backlog is committed, events are produced at --latency-rate "
    "(default 1,000/s) for --latency-seconds to a second, idle topic the row also consumes; "
    "latency = nginx arrival ($msec - $request_time) - Kafka record timestamp (CreateTime).",
    "order violations: per call, a seq lower than one already answered, in nginx's log "
    "order (one worker); only key-mode rows promise 0.",
    "commits/s/part.: changes of the committed offset of the busiest partition seen by the "
    "20 Hz poller (so at most ~20); naive: its own commit count.",
    "peak RSS: VmHWM of the row's process; CPU %: its CPU time ÷ the measured interval "
    "(100 % = one core).",
    "best of N (--best-of, default 3): each row runs N times, each time with a fresh "
    "consumer group and nginx, and its best run is shown; every run's rate is in the notes.",
    "both receivers read the body (echo_read_request_body) so its log carries it; "
    "the fast one then answers `ok` at once, the slow one after echo_sleep 0.05.",
]


def run(args: argparse.Namespace, workdir: Path) -> tuple[list[Result], tuple[float, float]]:
    module = ensure_nginx()
    with EmbeddedBroker() as broker:
        bench = Bench(
            bootstrap=broker.bootstrap,
            load_topic=LOAD_TOPIC,
            events=args.events,
            keys=args.keys,
            workdir=workdir,
            module=module,
            events_file=workdir / "events.jsonl",
            concurrency=args.concurrency,
            naive_events=args.naive_events,
            naive_seconds=args.naive_seconds,
            latency_rate=args.latency_rate,
            latency_seconds=args.latency_seconds,
            row_timeout=args.row_timeout,
            profile=args.profile,
            settings=args.settings,
        )
        print(f"broker {broker.bootstrap}; work dir {workdir}", flush=True)
        load(bench)
        floor = workload.broker_floor(bench.bootstrap, args.latency_rate, args.latency_seconds)
        print(f"broker floor (plain consumer): p50 {floor[0]:.1f} ms, p99 {floor[1]:.1f} ms")
        batch_ok, why = batch_supported(bench)
        results = []
        for receiver in args.receivers:
            for row in (r for r in args.rows if receiver in r.receivers):
                if row.batch and not batch_ok:
                    results.append(Result(row, receiver, status="n/a (not implemented)"))
                    reason = why.splitlines()[-1] if why else ""
                    print(f"[{receiver}] {row.name}: n/a (option 'batch' rejected: {reason})")
                    continue
                results.append(best_of(bench, row, receiver, args.best_of))
    return results, floor


def best_of(bench: Bench, row: Row, receiver: str, tries: int) -> Result:
    """The row's best of ``tries`` runs (every run's rate in its notes)."""
    tries = max(1, tries)
    runs = []
    for attempt in range(1, tries + 1):
        print(f"[{receiver}] {row.name} ...", end=" ", flush=True)
        result = run_row(bench, row, receiver, attempt)
        runs.append(result)
        rate = result.rate
        print(f"{rate:,.0f} events/s" if rate else result.status, flush=True)
    best = max(runs, key=lambda r: r.rate or -1.0)
    if tries > 1:
        rates = ", ".join(f"{r.rate:,.0f}" if r.rate else r.status for r in runs)
        best.notes.append(f"best of {tries} runs (events/s: {rates})")
    return best


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    box = report.machine()
    workdir = Path(tempfile.mkdtemp(prefix="kafkahooks-bench-"))
    try:
        results, floor = run(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    for receiver in args.receivers:
        print(f"Receiver: {report.RECEIVERS[receiver]}  ({args.events:,} events)")
        print(report.text_table(report.table_rows(results, receiver, args.concurrency)))
        print()
    if any(r.row.kind == "naive" for r in results):
        print(f"* naive stops after {args.naive_events:,} events or {args.naive_seconds:.0f} s.")
    for line in report.notes(results):
        print("note:", line)
    print(
        f"Broker floor: record timestamp → a plain confluent-kafka consumer, same rate: "
        f"p50 {floor[0]:.1f} ms, p99 {floor[1]:.1f} ms (the test broker's share of latency)."
    )
    print("\nTargets (issue 4):")
    for text, verdict in report.targets(results):
        print(f"  {verdict:4}  {text}")
    if args.results:
        command = "python bench/throughput.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        floor_text = f"p50 {floor[0]:.1f} ms, p99 {floor[1]:.1f} ms"
        method = [*METHOD, f"broker floor in this run (plain consumer, same rate): {floor_text}"]
        loaded = (
            f"Workload: {args.events:,} call-status events, {args.keys:,} keys, "
            f"{workload.PARTITIONS} partitions; naive stops after {args.naive_events:,} events "
            f"or {args.naive_seconds:.0f} s (marked *). Figures from a shared 2-core machine "
            f"are noisy: every row is the best of {args.best_of} runs "
            "(each run's rate is in the notes); compare rows of one run."
        )
        report.write_markdown(
            Path(args.results),
            loaded,
            command.strip(),
            results,
            args.receivers,
            args.concurrency,
            method,
            box,
        )
        print(f"\nwritten to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
