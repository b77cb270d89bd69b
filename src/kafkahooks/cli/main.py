"""Command line: argument parsing only; the work is done elsewhere."""

from __future__ import annotations

import signal

# A SIGTERM while the process is still starting (imports take ~1 s) would kill it with the
# default action; noted here instead, it makes the bridge stop cleanly once it runs.
EARLY_SIGNALS: list[int] = []


def _catch_early_signals() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: EARLY_SIGNALS.append(signum))


if __name__ == "__main__":
    _catch_early_signals()

import argparse
import asyncio
import sys

from kafkahooks import __version__
from kafkahooks.app import Settings
from kafkahooks.cli.commands import add_commands
from kafkahooks.cli.common import load_or_exit
from kafkahooks.cli.deliveries import add_deliveries_command
from kafkahooks.cli.dlq import add_dlq_command
from kafkahooks.cli.local import add_local_commands
from kafkahooks.telemetry import setup_logging

__all__ = ["main"]


def cmd_check(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config, Settings().allow_local_targets)
    print(f"{args.config}: OK")
    for route in config.routes:
        state = "" if route.active else " (inactive)"
        print(
            f"  route {route.name}{state}: {', '.join(route.topics)} → "
            f"{route.endpoint.method} {route.endpoint.shown_url}"
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    _catch_early_signals()
    from kafkahooks.app import run_bridge

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    config = load_or_exit(args.config, settings.allow_local_targets)
    result = asyncio.run(run_bridge(config, settings, args.config, EARLY_SIGNALS))
    if result.error:
        print(f"kafkahooks stopped: {result.error}", file=sys.stderr)
    return result.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    from kafkahooks.demo import run_demo

    return run_demo(events=args.events, calls=args.calls, value_format=args.format)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kafkahooks", description="Kafka events to signed HTTP webhooks, at least once."
    )
    parser.add_argument("--version", action="version", version=f"kafkahooks {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="consume and deliver until stopped")
    run.add_argument("--config", required=True)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate a routes file")
    check.add_argument("--config", required=True)
    check.set_defaults(func=cmd_check)

    add_commands(sub)  # render, send-test, secret generate
    add_dlq_command(sub)  # dlq replay
    add_deliveries_command(sub)
    add_local_commands(sub)  # broker, listen, produce

    demo = sub.add_parser("demo", help="local broker + receiver + sample events, end to end")
    demo.add_argument("--events", type=int, default=2000, help="events to produce")
    demo.add_argument("--calls", type=int, default=0, help="distinct calls (default events/4)")
    demo.add_argument("--format", choices=["json", "avro"], default="json",
                      help="produce the events as JSON, or as schemaless Avro (call-status.avsc)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
