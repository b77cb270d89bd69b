"""CPU per event, A/B: the same kafkahooks rows from two source trees, run alternately.

For a change that must not make the per-event path dearer (a restructuring, say)::

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/cpu_ab.py --before /tmp/before/src --after src --events 30000

Each round runs every row (default ``key,none,batch``, fast receiver) once from each tree,
alternating which goes first, so drift of the shared machine hits both alike.  The figure is
the bridge's CPU seconds from its first record to its last commit ÷ events committed (µs per
event), and each side's best of ``--rounds`` is compared.  Everything else (broker, nginx,
events, settings) is shared with ``bench/throughput.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import throughput
from nginx_receiver import ensure_nginx
from rows import ROWS, Bench, Result, run_row

from kafkahooks.demo.broker import EmbeddedBroker


def cpu_us_per_event(result: Result) -> float | None:
    if result.rate is None or result.cpu_pct is None or not result.events:
        return None
    return 1e6 * result.cpu_pct / 100 * result.seconds / result.events


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--before", required=True, help="the 'before' tree's src directory")
    p.add_argument("--after", required=True, help="the 'after' tree's src directory")
    p.add_argument("--rows", default="key,none,batch")
    p.add_argument("--events", type=int, default=30_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    trees = {"before": str(Path(args.before).resolve()), "after": str(Path(args.after).resolve())}
    rows = [r for r in ROWS if r.option in args.rows.split(",")]
    throughput.raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="kafkahooks-cpu-ab-"))
    module = ensure_nginx()
    best: dict[tuple[str, str], float] = {}
    seen: dict[tuple[str, str], list[str]] = {}
    with EmbeddedBroker() as broker:
        bench = Bench(
            bootstrap=broker.bootstrap,
            load_topic=throughput.LOAD_TOPIC,
            events=args.events,
            keys=10_000,
            workdir=workdir,
            module=module,
            events_file=workdir / "events.jsonl",
            concurrency=200,
            naive_events=0,
            naive_seconds=0.0,
            latency_rate=1_000.0,
            latency_seconds=0.5,
            row_timeout=300.0,
            profile=False,
            settings={"KAFKAHOOKS_HTTP_PORT": "0"},  # no metrics listener: runs never collide
        )
        throughput.load(bench)
        for n in range(args.rounds):
            order = ["before", "after"] if n % 2 == 0 else ["after", "before"]
            for row in rows:
                for side in order:
                    os.environ["PYTHONPATH"] = trees[side]  # the bridge process imports this tree
                    result = run_row(bench, row, "fast", attempt=10 * n + order.index(side) + 1)
                    us = cpu_us_per_event(result)
                    shown = f"{us:.1f}" if us is not None else result.status
                    seen.setdefault((row.option, side), []).append(shown)
                    if us is not None:
                        best[(row.option, side)] = min(us, best.get((row.option, side), us))
                    print(f"round {n + 1} {row.option:6} {side:6} {shown} µs/event", flush=True)
    print("\nrow     before (best)  after (best)  after/before   runs before | after")
    for row in rows:
        b, a = best.get((row.option, "before")), best.get((row.option, "after"))
        ratio = f"{a / b:.3f}" if a and b else "-"
        runs = " | ".join(", ".join(seen[(row.option, side)]) for side in ("before", "after"))
        print(f"{row.option:6}  {b or 0:13.1f}  {a or 0:12.1f}  {ratio:>12}   {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
