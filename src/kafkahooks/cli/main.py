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
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from kafkahooks import __version__

__all__ = ["main"]

# The commands that live in their own modules: (the sub-commands a module adds, the
# module, its registration function).  A module is imported only when one of its
# commands runs (or for the full ``kafkahooks --help``), so that a command does not
# pay for the others' imports: ``check``, ``render`` and ``secret`` start in a
# fraction of the ~0.9 s that importing everything takes (bench/cli_startup.py).
# To add commands: one line here.
COMMAND_MODULES: list[tuple[tuple[str, ...], str, str]] = [
    (("render", "send-test", "secret"), "kafkahooks.cli.commands", "add_commands"),
    (("dlq",), "kafkahooks.cli.dlq", "add_dlq_command"),
    (("deliveries",), "kafkahooks.cli.deliveries", "add_deliveries_command"),
    (("broker", "listen", "produce"), "kafkahooks.cli.local", "add_local_commands"),
    (("endpoints",), "kafkahooks.cli.endpoints", "add_endpoints_command"),
    (("api",), "kafkahooks.cli.api", "add_api_command"),
]


def cmd_check(args: argparse.Namespace) -> int:
    from kafkahooks.cli.common import allow_local_switch, load_or_exit, warn_samples

    config = load_or_exit(args.config, allow_local_switch)
    print(f"{args.config}: OK")
    for route in config.routes:
        state = "" if route.active else " (inactive)"
        target = (
            f"{route.endpoint.method} {route.endpoint.shown_url}"
            if route.endpoint is not None
            else f"POST each tenant's endpoints (tenant: {route.tenant_path})"
        )
        print(f"  route {route.name}{state}: {', '.join(route.topics)} → {target}")
    warn_samples(config.routes, args.config)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    _catch_early_signals()
    import asyncio

    from kafkahooks.app import Settings, run_bridge
    from kafkahooks.cli.common import load_or_exit
    from kafkahooks.telemetry import setup_logging

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    config = load_or_exit(args.config, settings.allow_local_targets)
    result = asyncio.run(run_bridge(config, settings, args.config, EARLY_SIGNALS))
    if result.error:
        print(f"kafkahooks stopped: {result.error}", file=sys.stderr)
    return result.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    if args.endpoints:
        from kafkahooks.demo import run_endpoints_demo

        return run_endpoints_demo(events=args.events)
    from kafkahooks.demo import run_demo

    return run_demo(events=args.events, calls=args.calls, value_format=args.format)


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names (its first word that is not an option), if any."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


_OWN_COMMANDS = ("run", "check", "demo")  # defined in this module


def _add_module_commands(sub: Any, chosen: str | None) -> None:
    """Register the commands of the module that has ``chosen`` (none for this module's
    own); of every module when ``chosen`` is unknown (``--help``, a mistyped command:
    argparse then lists them all)."""
    if chosen in _OWN_COMMANDS:
        return
    mine = [entry for entry in COMMAND_MODULES if chosen in entry[0]]
    for _, module, register in mine or COMMAND_MODULES:
        getattr(importlib.import_module(module), register)(sub)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the command modules that ``argv`` needs."""
    chosen = None if argv is None else _chosen_command(argv)
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

    _add_module_commands(sub, chosen)

    demo = sub.add_parser("demo", help="local broker + receiver + sample events, end to end")
    demo.add_argument("--events", type=int, default=2000, help="events to produce")
    demo.add_argument("--calls", type=int, default=0, help="distinct calls (default events/4)")
    demo.add_argument("--format", choices=["json", "avro"], default="json",
                      help="produce the events as JSON, or as schemaless Avro (call-status.avsc)")
    demo.add_argument("--endpoints", action="store_true",
                      help="customers' own endpoints: created with `kafkahooks endpoints create`, "
                      "each receiving its tenant's events")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
