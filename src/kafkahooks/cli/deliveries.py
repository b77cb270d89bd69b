"""``kafkahooks deliveries``: read the delivery-attempt log back, filtered.

The topic is read by ``kafka.read_topic`` (``assign()``, no group join, never commits),
so an answer takes seconds.  Exit status: 0 the whole log (since ``--since``) was read;
1 it could not be read, or not to its end within ``--timeout`` (what was read is
printed, then what was not); 2 bad usage.

An attempt to a customer endpoint (routes with ``endpoints:``) ends its line with
``endpoint <id>``; ``--endpoint ID`` keeps that endpoint's attempts only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from kafkahooks.cli.common import load_or_exit

if TYPE_CHECKING:
    from confluent_kafka import Message

    from kafkahooks.kafka import ReadResult

# The Kafka client (confluent-kafka, ``kafkahooks.kafka``) is imported when the command
# reads, not here: ``kafkahooks deliveries --help`` starts without it.

__all__ = ["add_deliveries_command", "parse_since", "read_or_explain", "unread"]

T = TypeVar("T")

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


def _attempt(message: Message) -> dict[str, Any] | None:
    """An attempt record; ``None`` for anything else, such as the markers the API's
    follower writes to find "now" (an empty value under a ``marker/`` key)."""
    try:
        value = json.loads(message.value() or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) and "event_id" in value else None


def read_or_explain(
    conf: dict[str, Any],
    topic: str,
    decode: Callable[[Message], T | None],
    timeout: float,
    since: float | None,
    purpose: str,
    *,
    missing_ok: bool = False,
) -> ReadResult[T] | None:
    """``topic`` read by ``read_topic``; ``None`` after saying on stderr why it could not be
    read at all.  A partial read is returned: the caller prints it, then :func:`unread`.
    ``missing_ok``: a topic the broker does not have holds nothing (an empty result)."""
    from kafkahooks.kafka import ReadResult, TopicMissingError, TopicReadError, read_topic

    try:
        return read_topic(conf, topic, decode, timeout=timeout, since=since, purpose=purpose)
    except TopicMissingError:
        if missing_ok:
            return ReadResult()
        print(f"error: topic {topic!r} does not exist", file=sys.stderr)
        return None
    except TopicReadError as exc:
        print(f"error: {exc} (within {timeout:g} s)", file=sys.stderr)
        return None


def unread(topic: str, result: ReadResult[Any], timeout: float) -> int:
    """0 when ``result`` is complete; else say what was not read (on stderr) and give 1."""
    if result.complete:
        return 0
    parts = ", ".join(str(p) for p in result.unfinished)
    print(
        f"error: incomplete: partition(s) {parts} of {topic!r} were not read to their end "
        f"within {timeout:g} s; the lines above are only what was read (raise --timeout)",
        file=sys.stderr,
    )
    return 1


def _row(r: dict[str, Any]) -> str:
    at = datetime.fromtimestamp(r.get("at", 0), UTC).isoformat(timespec="seconds")
    status = r.get("status") or "-"
    return (
        f"{at}  {r.get('event_id', ''):<36}  {r.get('route', ''):<20}  "
        f"{r.get('attempt', 0):>3}  {status!s:>4}  {r.get('latency_ms', 0):>8.1f}ms  "
        f"{r.get('error') or ''}{_excerpt(r)}{_endpoint(r)}"
    )


def _endpoint(r: dict[str, Any]) -> str:
    endpoint = r.get("endpoint_id")
    return f"  endpoint {endpoint}" if endpoint else ""


def _excerpt(r: dict[str, Any]) -> str:
    excerpt = r.get("excerpt")
    return f"  {excerpt!r}" if excerpt else ""


def cmd_deliveries(args: argparse.Namespace) -> int:
    from kafkahooks.kafka import consumer_config

    config = load_or_exit(args.config)
    topic = config.kafka.delivery_log_topic
    if not topic:
        print(
            f"{args.config}: kafka.delivery_log_topic is not set; no delivery log is kept",
            file=sys.stderr,
        )
        return 2
    conf = consumer_config(config.kafka.bootstrap_servers, "unused", config.kafka.properties)
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError:
        print(f"--since {args.since!r}: use 10m, 2h, 1d or an ISO-8601 time", file=sys.stderr)
        return 2
    result = read_or_explain(conf, topic, _attempt, args.timeout, since, "deliveries")
    if result is None:
        return 1
    rows = [
        r
        for r in result.records
        if (args.route is None or r.get("route") == args.route)
        and (args.event_id is None or r.get("event_id") == args.event_id)
        and (args.endpoint is None or r.get("endpoint_id") == args.endpoint)
        and (since is None or r.get("at", 0) >= since)
    ]
    print(f"{'time':<25}  {'event id':<36}  {'route':<20}  try  code   latency  error")
    for r in sorted(rows, key=lambda r: r.get("at", 0)):
        print(_row(r))
    ok = sum(1 for r in rows if isinstance(r.get("status"), int) and 200 <= r["status"] < 300)
    print(f"\n{len(rows)} attempts, {ok} succeeded, {len(rows) - ok} failed")
    return unread(topic, result, args.timeout)


def add_deliveries_command(sub: Any) -> None:
    parser = sub.add_parser("deliveries", help="read the delivery-attempt log (webhook logs)")
    parser.add_argument("--config", required=True)
    parser.add_argument("--route")
    parser.add_argument("--event-id")
    parser.add_argument("--endpoint", metavar="ID", help="only this customer endpoint's attempts")
    parser.add_argument("--since", help="10m, 2h, 1d, or an ISO-8601 time")
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to read at most; what is not read by then is an error (exit 1)",
    )
    parser.set_defaults(func=cmd_deliveries)
