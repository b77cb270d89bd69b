"""Read the bridge's JSON log lines back (KAFKAHOOKS_LOG_FORMAT=json, the default)."""

from __future__ import annotations

import json
from typing import Any


def log_records(output: str) -> list[dict[str, Any]]:
    """Every JSON log line of a bridge's output, in order; other lines are skipped."""
    records = []
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def logged(output: str, msg: str) -> list[dict[str, Any]]:
    """The log records whose message is exactly ``msg``."""
    return [r for r in log_records(output) if r.get("msg") == msg]


def owned_partitions(output: str) -> set[str]:
    """Partitions a bridge owns now, replayed from its assigned/revoked/lost log lines."""
    owned: set[str] = set()
    for record in log_records(output):
        msg = record.get("msg")
        if msg == "partitions assigned":
            owned |= set(record.get("partitions") or [])
        elif msg in ("partitions revoked", "partitions lost"):
            owned -= set(record.get("partitions") or [])
    return owned


def first_logged_after(output: str, msg: str, after: float) -> dict[str, Any] | None:
    """The first record ``msg`` whose wall-clock ``ts`` is later than ``after``."""
    return next((r for r in logged(output, msg) if float(r.get("ts", 0)) > after), None)
