"""``kafkahooks deliveries``: read the delivery-attempt log back, filtered."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from kafkahooks.cli.common import load_or_exit
from kafkahooks.kafka import consumer_config

__all__ = ["add_deliveries_command", "parse_since"]

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """``10m``, ``2h``, ``1d`` ago, or an ISO-8601 time → unix seconds."""
    match = _RELATIVE.match(text.strip())
    if match:
        base = time.time() if now is None else now
        return base - float(match.group(1)) * _UNITS[match.group(2)]
    stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def _read(conf: dict[str, Any], topic: str, timeout: float) -> list[dict[str, Any]]:
    """Everything on the topic now: read until every partition reports its end."""
    consumer = Consumer({**conf, "enable.partition.eof": True})
    assigned: set[tuple[str, int]] = set()
    ended: set[tuple[str, int]] = set()

    def on_assign(_: Consumer, parts: list[TopicPartition]) -> None:
        assigned.update((p.topic, p.partition) for p in parts)

    consumer.subscribe([topic], on_assign=on_assign)
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not (assigned and ended >= assigned):
            for message in consumer.consume(500, 0.2):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        ended.add((str(message.topic()), int(message.partition() or 0)))
                    continue
                try:
                    records.append(json.loads(message.value() or b"{}"))
                except ValueError:
                    continue
    finally:
        consumer.close()
    return records


def _row(r: dict[str, Any]) -> str:
    at = datetime.fromtimestamp(r.get("at", 0), UTC).isoformat(timespec="seconds")
    status = r.get("status") or "-"
    return (
        f"{at}  {r.get('event_id', ''):<36}  {r.get('route', ''):<20}  "
        f"{r.get('attempt', 0):>3}  {status!s:>4}  {r.get('latency_ms', 0):>8.1f}ms  "
        f"{r.get('error') or ''}"
    )


def cmd_deliveries(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    topic = config.kafka.delivery_log_topic
    if not topic:
        print(
            f"{args.config}: kafka.delivery_log_topic is not set; no delivery log is kept",
            file=sys.stderr,
        )
        return 2
    group = f"kafkahooks-deliveries-{uuid.uuid4().hex[:8]}"  # read-only: never commits
    conf = consumer_config(config.kafka.bootstrap_servers, group, config.kafka.properties)
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError:
        print(f"--since {args.since!r}: use 10m, 2h, 1d or an ISO-8601 time", file=sys.stderr)
        return 2
    rows = [
        r
        for r in _read(conf, topic, args.timeout)
        if (args.route is None or r.get("route") == args.route)
        and (args.event_id is None or r.get("event_id") == args.event_id)
        and (since is None or r.get("at", 0) >= since)
    ]
    print(f"{'time':<25}  {'event id':<36}  {'route':<20}  try  code   latency  error")
    for r in sorted(rows, key=lambda r: r.get("at", 0)):
        print(_row(r))
    ok = sum(1 for r in rows if isinstance(r.get("status"), int) and 200 <= r["status"] < 300)
    print(f"\n{len(rows)} attempts, {ok} succeeded, {len(rows) - ok} failed")
    return 0


def add_deliveries_command(sub: Any) -> None:
    parser = sub.add_parser("deliveries", help="read the delivery-attempt log (webhook logs)")
    parser.add_argument("--config", required=True)
    parser.add_argument("--route")
    parser.add_argument("--event-id")
    parser.add_argument("--since", help="10m, 2h, 1d, or an ISO-8601 time")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to read at most")
    parser.set_defaults(func=cmd_deliveries)
