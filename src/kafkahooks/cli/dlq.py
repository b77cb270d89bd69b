"""``kafkahooks dlq replay``: parse the arguments, pick the route, run the replayer.

The replay itself (reading, sending, transactions) is ``app/replay.py``.
Exit status: 0 all delivered (or filtered), 1 some failed again or the replay
stopped, 2 bad usage (the file does not load, no such route, an inactive route,
a target the transport policy refuses).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from kafkahooks.app import Replayer, Settings
from kafkahooks.cli.common import load_or_exit, route_or_exit, usage_error
from kafkahooks.config import RoutesFile
from kafkahooks.delivery import Route, RouteTable
from kafkahooks.telemetry import setup_logging

__all__ = ["add_dlq_command", "cmd_dlq_replay"]


def _replay_route(config: RoutesFile, args: argparse.Namespace, settings: Settings) -> Route:
    """The route to replay into, compiled; exit 2 when it cannot be."""
    chosen = route_or_exit(config, args.route, args.config)
    if not chosen.active:
        usage_error(f"route {args.route!r} is inactive: activate it to replay into it")
    try:  # the transport policy of this one route
        return RouteTable([chosen], settings.allow_local_targets).routes[0]
    except ValueError as exc:
        usage_error(str(exc))


async def _replay_main(replayer: Replayer, start: int | None, limit: int | None) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # stop reading, finish in-flight, commit
        loop.add_signal_handler(sig, lambda: setattr(replayer, "stopping", True))
    await replayer.run(start, limit)


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    config = load_or_exit(args.config)
    route = _replay_route(config, args, settings)
    replayer = Replayer(config, route, settings, dry_run=args.dry_run)
    asyncio.run(_replay_main(replayer, args.from_offset, args.limit))
    if replayer.error is not None:
        print(f"replay stopped: {replayer.error}", file=sys.stderr)
        return 1
    return 1 if replayer.summary.failed_again else 0


def add_dlq_command(sub: Any) -> None:
    """``kafkahooks dlq replay ...`` on the CLI's sub-command parser."""
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
    replay.set_defaults(func=cmd_dlq_replay)
