"""``kafkahooks dlq list|show|replay``: what failed, why, and sending it again.

``list`` and ``show`` read the dead-letter topics of the routes file (or of one
``--route``) by ``kafka.read_topic``: ``assign()``, no group join, nothing committed.
Exit status: 0 every dead-letter topic was read to its end (an empty answer is a true
one); 1 a topic could not be read, or not to its end within ``--timeout`` (said on
stderr; ``show`` also when no dead letter has the event id); 2 bad usage.

The replay itself (reading, sending, transactions) is ``app/replay.py``.
Exit status: 0 all delivered (or filtered), 1 some failed again or the replay
stopped, 2 bad usage (the file does not load, no such route, an inactive route,
a target the transport policy refuses).
"""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kafkahooks.cli.common import load_or_exit, route_or_exit, usage_error
from kafkahooks.cli.deliveries import parse_since, read_or_explain, unread

if TYPE_CHECKING:
    from kafkahooks.app import DeadRecord, Replayer, Settings
    from kafkahooks.config import RoutesFile
    from kafkahooks.delivery import Route

# The replayer, the Kafka client and the delivery code are imported by the command that
# runs, not here: ``kafkahooks dlq --help`` starts without them.

__all__ = ["add_dlq_command", "cmd_dlq_list", "cmd_dlq_replay", "cmd_dlq_show"]

_EXCERPT_IN_LIST = 60  # characters of the response excerpt in a list row


def dead_letter_topics(config: RoutesFile, route: str | None) -> list[str]:
    """The dead-letter topics of every route (or of ``route``), and ``<source>.dlq`` of
    their source topics (where an event that no route could take is dead-lettered)."""
    topics: set[str] = set()
    for chosen in config.routes:
        if route is None or chosen.name == route:
            for source in chosen.topics:
                topics.update((chosen.dead_letter_for(source), f"{source}.dlq"))
    return sorted(topics)


def _time(ms: str | int | None) -> str:
    try:
        return datetime.fromtimestamp(int(ms or 0) / 1000, UTC).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return "-"


def _failed_at(record: DeadRecord) -> float:
    try:
        return int(record.own.get("failed_at") or record.timestamp) / 1000
    except ValueError:
        return record.timestamp / 1000


def _wanted(record: DeadRecord, args: argparse.Namespace, since: float | None) -> bool:
    own = record.own
    if args.route is not None and own.get("route") not in (args.route, ""):
        return False
    if getattr(args, "event_id", None) is not None and own.get("event_id") != args.event_id:
        return False
    if args.reason is not None:
        text = f"{own.get('error.class', '')} {own.get('error.message', '')}".lower()
        if args.reason.lower() not in text:
            return False
    return since is None or _failed_at(record) >= since


def _read_dead_letters(
    args: argparse.Namespace,
) -> tuple[list[DeadRecord], int]:
    """Every wanted dead letter, oldest first, and the exit status of the read."""
    from kafkahooks.app import DeadRecord
    from kafkahooks.kafka import consumer_config

    config = load_or_exit(args.config)
    if args.route is not None:
        route_or_exit(config, args.route, args.config)
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError:
        usage_error(f"--since {args.since!r}: use 10m, 2h, 1d or an ISO-8601 time")
    conf = consumer_config(config.kafka.bootstrap_servers, "unused", config.kafka.properties)
    found: list[DeadRecord] = []
    status = 0
    for topic in dead_letter_topics(config, args.route):
        result = read_or_explain(
            conf, topic, DeadRecord.of, args.timeout, since, "dlq", missing_ok=True
        )
        if result is None:
            return found, 1
        found.extend(r for r in result.records if _wanted(r, args, since))
        status = max(status, unread(topic, result, args.timeout))
    return sorted(found, key=_failed_at), status


def _reason(own: dict[str, str]) -> str:
    return f"{own.get('error.class', '')}: {own.get('error.message', '')}"


def _row(record: DeadRecord) -> str:
    own = record.own
    excerpt = own.get("http.response_excerpt", "")
    if len(excerpt) > _EXCERPT_IN_LIST:
        excerpt = excerpt[: _EXCERPT_IN_LIST - 1] + "…"
    return (
        f"{_time(own.get('failed_at') or record.timestamp)}  {own.get('route') or '-':<16}  "
        f"{own.get('event_id') or '-':<36}  {own.get('http.status') or '-':>4}  "
        f"{own.get('attempts') or '0':>3}  {_reason(own)}" + (f"  {excerpt!r}" if excerpt else "")
    )


def cmd_dlq_list(args: argparse.Namespace) -> int:
    records, status = _read_dead_letters(args)
    print(f"{'failed at':<25}  {'route':<16}  {'event id':<36}  code  try  reason")
    for record in records:
        print(_row(record))
    print(f"\n{len(records)} dead letters")
    return status


def _details(record: DeadRecord) -> list[str]:
    own = record.own
    value = record.value or b""
    source = (
        f"{own.get('source.topic', '?')}/{own.get('source.partition', '?')}"
        f"@{own.get('source.offset', '?')} at {_time(own.get('source.timestamp'))}"
    )
    return [
        f"dead letter {record.topic}/{record.partition}@{record.offset}",
        f"  route:      {own.get('route') or '-'}",
        f"  event id:   {own.get('event_id') or '-'}",
        f"  reason:     {_reason(own)}",
        f"  status:     {own.get('http.status') or '-'}",
        f"  endpoint:   {own.get('endpoint') or '-'}",
        f"  endpoint id: {own.get('endpoint_id') or '-'}",
        f"  response:   {own.get('http.response_excerpt', '')!r}",
        f"  attempts:   {own.get('attempts') or '0'}",
        f"  failed at:  {_time(own.get('failed_at') or record.timestamp)}",
        f"  source:     {source}",
        f"  value:      {len(value)} bytes"
        + (f" (omitted: {own['value.omitted']} bytes)" if "value.omitted" in own else ""),
    ]


def cmd_dlq_show(args: argparse.Namespace) -> int:
    records, status = _read_dead_letters(args)
    for record in records:
        print("\n".join(_details(record)))
    if not records:
        print(f"no dead letter with event id {args.event_id!r}", file=sys.stderr)
        return 1
    return status


def _replay_route(
    config: RoutesFile, args: argparse.Namespace, settings: Settings, directory: Any
) -> Route:
    """The route to replay into, compiled; exit 2 when it cannot be.  ``directory``: the
    customer endpoints, for a route with ``endpoints:``."""
    from kafkahooks.delivery import RouteTable

    chosen = route_or_exit(config, args.route, args.config)
    if not chosen.active:
        usage_error(f"route {args.route!r} is inactive: activate it to replay into it")
    try:  # the transport policy of this one route
        return RouteTable([chosen], settings.allow_local_targets, directory=directory).routes[0]
    except ValueError as exc:
        usage_error(str(exc))


async def _replay_main(replayer: Replayer, start: int | None, limit: int | None) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # stop reading, finish in-flight, commit
        loop.add_signal_handler(sig, lambda: setattr(replayer, "stopping", True))
    await replayer.run(start, limit)


def cmd_dlq_replay(args: argparse.Namespace) -> int:

    from kafkahooks.app import EndpointDirectories, Settings
    from kafkahooks.errors import KafkahooksError
    from kafkahooks.telemetry import setup_logging

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    config = load_or_exit(args.config)
    directories = EndpointDirectories(config, settings)
    try:
        directory = directories.open()
    except (KafkahooksError, ValueError) as exc:  # the endpoint store cannot be read
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        return _replay(config, args, settings, _replay_route(config, args, settings, directory))
    finally:
        directories.close()


def _replay(config: RoutesFile, args: argparse.Namespace, settings: Settings, route: Route) -> int:
    import asyncio

    from kafkahooks.app import Replayer

    replayer = Replayer(
        config,
        route,
        settings,
        dry_run=args.dry_run,
        event_id=args.event_id,
        endpoint_id=args.endpoint,
    )
    asyncio.run(_replay_main(replayer, args.from_offset, args.limit))
    if replayer.error is not None:
        print(f"replay stopped: {replayer.error}", file=sys.stderr)
        return 1
    if replayer.selective and not replayer.summary.replayed + replayer.summary.no_body:
        wanted = [
            f"{what} {value!r}"
            for what, value in (("event id", args.event_id), ("endpoint id", args.endpoint))
            if value is not None
        ]
        print(
            f"no dead letter of route {args.route!r} has {' and '.join(wanted)}",
            file=sys.stderr,
        )
        return 1
    return 1 if replayer.summary.failed_again else 0


def _read_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True)
    parser.add_argument("--route", help="only this route's dead letters")
    parser.add_argument(
        "--reason", help="only dead letters whose error class or message holds this text"
    )
    parser.add_argument("--since", help="failed since: 10m, 2h, 1d, or an ISO-8601 time")
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to read each topic at most; what is not read by then is an error",
    )


def add_dlq_command(sub: Any) -> None:
    """``kafkahooks dlq replay|list|show ...`` on the CLI's sub-command parser."""
    dlq = sub.add_parser("dlq", help="dead-letter topics")
    verbs = dlq.add_subparsers(dest="dlq_command", required=True)
    replay = verbs.add_parser(
        "replay",
        help="send a route's dead letters again through the current config",
        description="Exit status: 0 all delivered (or filtered), 1 some failed again "
        "(they are back in the dead-letter topic) or the replay stopped, 2 bad usage.",
    )
    replay.add_argument("--config", required=True)
    replay.add_argument("--route", required=True)
    replay.add_argument(
        "--from",
        dest="from_offset",
        type=int,
        default=None,
        metavar="OFFSET",
        help="start at this offset in every dead-letter partition "
        "(default: where the replay group left off)",
    )
    replay.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="replay at most N records of this route",
    )
    replay.add_argument(
        "--dry-run",
        action="store_true",
        help="render and print what would be sent; send and commit nothing",
    )
    replay.add_argument(
        "--event-id",
        default=None,
        metavar="ID",
        help="replay only this event (read from the beginning; no position is committed, "
        "so a later full replay sends it again)",
    )
    replay.add_argument(
        "--endpoint",
        default=None,
        metavar="ID",
        help="replay only the dead letters of this customer endpoint (as --event-id: read "
        "from the beginning, no position committed)",
    )
    replay.set_defaults(func=cmd_dlq_replay)
    listing = verbs.add_parser(
        "list",
        help="the dead letters: reason, status, response excerpt, attempts, times",
        description="Exit status: 0 read to the end, 1 a topic could not be read, 2 bad usage.",
    )
    _read_options(listing)
    listing.set_defaults(func=cmd_dlq_list, event_id=None)
    show = verbs.add_parser("show", help="every detail of one event's dead letters")
    _read_options(show)
    show.add_argument("--event-id", required=True, metavar="ID")
    show.set_defaults(func=cmd_dlq_show)
