"""Local development commands: ``broker``, ``listen`` and ``produce``.

Everything they start listens on loopback only.  Each prints one line saying it is ready
(``broker`` and ``listen`` keep running until Ctrl-C or SIGTERM and then exit 0); a
mistake in the arguments exits 2 with a message, a broker or file that cannot be used
exits 1 saying why.  The heavy imports (confluent-kafka, the routes file loader) happen
inside the command that needs them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["LOCAL_CONSUMER_SETTINGS", "add_local_commands"]

# Group timings that let a consumer join the local test broker in about a second (the
# first assignment takes about half of session.timeout.ms there); the client defaults
# (45 s) are right for production.
LOCAL_CONSUMER_SETTINGS = {"SESSION_TIMEOUT_MS": "2000", "HEARTBEAT_INTERVAL_MS": "500"}
SCHEMES = ["hmac-sha256", "timestamped", "standard-webhooks", "t-v1"]


def usage_error(message: str) -> NoReturn:
    """Print ``message`` to stderr and exit 2 (bad usage), as ``cli/common.py`` does."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def _catch_stop_signals() -> threading.Event:
    """From now on SIGINT and SIGTERM set the returned event.  Called before the ready
    line is printed: a script that signals as soon as it reads it gets a clean exit."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    return stop


def _wait_for_signal(stop: threading.Event, failed: Callable[[], bool] = lambda: False) -> None:
    """Block until ``stop`` is set, or until ``failed()`` says what was served is gone."""
    while not stop.wait(0.5) and not failed():
        pass


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {port} (0-65535; 0 = any free)")
    return port


def cmd_broker(args: argparse.Namespace) -> int:
    from kafkahooks.demo import EmbeddedBroker, free_port
    from kafkahooks.kafka import ensure_topics

    broker = EmbeddedBroker(args.port or free_port())
    try:
        broker.start()
    except RuntimeError as exc:
        print(f"kafkahooks broker: {exc}", file=sys.stderr)
        return 1
    try:
        if args.topic:
            ensure_topics({"bootstrap.servers": broker.bootstrap}, args.topic, args.partitions)
        stop = _catch_stop_signals()
        settings = " ".join(f"{k}={v}" for k, v in LOCAL_CONSUMER_SETTINGS.items())
        print(
            f"local broker (Tansu, memory only: a restart starts empty) at {broker.bootstrap}\n"
            f"  export KAFKA_BOOTSTRAP={broker.bootstrap}\n"
            f"  local-development consumer settings (the group joins in about 1 s; keep the\n"
            f"  client defaults in production): session.timeout.ms=2000 heartbeat.interval.ms=500\n"
            f"  export {settings}\n"
            + (f"  topics: {', '.join(args.topic)}\n" if args.topic else "")
            + "Ctrl-C stops it.",
            flush=True,
        )
        _wait_for_signal(stop, failed=lambda: broker.exit_code() is not None)
        if (code := broker.exit_code()) is not None:
            print(f"kafkahooks broker: the broker exited by itself (code {code})", file=sys.stderr)
            return 1
    finally:
        broker.stop()
    return 0


def _listen_check(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from kafkahooks.config import SigningConfig
    from kafkahooks.demo import signature_check

    if args.config:
        from kafkahooks.cli.common import load_or_exit, route_or_exit

        if not args.route:
            usage_error("kafkahooks listen: --config needs --route NAME")
        if args.secret or args.scheme or args.header:
            usage_error(
                "kafkahooks listen: give --config/--route or --secret/--scheme/--header, not both"
            )
        route = route_or_exit(load_or_exit(args.config), args.route, args.config)
        if route.signing is None:
            usage_error(f"{args.config}: route {args.route!r} signs nothing: nothing to verify")
        return signature_check(route.signing)
    if not args.secret:
        usage_error("kafkahooks listen: give --secret S [--scheme X], or --config FILE --route N")
    fields: dict[str, Any] = {"scheme": args.scheme or "hmac-sha256", "secret": args.secret}
    if args.header:
        fields["header"] = args.header
    try:
        return signature_check(SigningConfig.model_validate(fields))
    except ValidationError as exc:
        problems = "; ".join(e["msg"] for e in exc.errors())
        usage_error(f"kafkahooks listen: {problems}")


def cmd_listen(args: argparse.Namespace) -> int:
    from kafkahooks.demo import ListenReceiver

    check = _listen_check(args)
    try:
        receiver = ListenReceiver(check, lambda line: print(line, flush=True), args.port)
    except OSError as exc:
        print(
            f"kafkahooks listen: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    stop = _catch_stop_signals()
    print(
        f"listening on {receiver.url} (any path; {check.scheme}, header {check.header}); "
        "answers 200 when the signature verifies, 401 when not. Ctrl-C stops it.",
        flush=True,
    )
    server = threading.Thread(target=receiver.serve_forever, daemon=True)
    server.start()
    try:
        _wait_for_signal(stop)
    finally:
        receiver.shutdown()
        server.join(5)
        receiver.close()
    print(f"received {receiver.verified} verified, {receiver.rejected} not verified", flush=True)
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from kafkahooks.demo import ProduceError, file_records, produce_events, sample_records

    if args.count < 1:
        usage_error("kafkahooks produce: --count must be at least 1")
    try:
        once = (
            file_records(args.file, args.key)
            if args.file
            else sample_records(args.sample, args.key)
        )
        records = once * args.count
        done = produce_events(args.bootstrap, args.topic, records, args.timeout)
    except ProduceError as exc:
        print(f"kafkahooks produce: {exc}", file=sys.stderr)
        return 1
    print(f"produced {done} event{'s' if done != 1 else ''} to {args.topic} at {args.bootstrap}")
    return 0


def add_local_commands(sub: Any) -> None:
    """Register ``broker``, ``listen`` and ``produce`` on the ``kafkahooks`` subparsers."""
    broker = sub.add_parser("broker", help="run a local Kafka-compatible test broker (Tansu)")
    broker.add_argument("--port", type=_port, default=0, help="loopback port (default: a free one)")
    broker.add_argument(
        "--topic", action="append", default=[], help="create this topic at start (repeatable)"
    )
    broker.add_argument("--partitions", type=int, default=1, help="partitions per --topic")
    broker.set_defaults(func=cmd_broker)

    listen = sub.add_parser("listen", help="a local receiver that verifies and prints deliveries")
    listen.add_argument("--port", type=_port, default=8000, help="loopback port (0: any free)")
    listen.add_argument("--secret", help="the signing secret")
    listen.add_argument("--scheme", help=f"{' | '.join(SCHEMES)}, or a preset name")
    listen.add_argument("--header", help="the signature header (default: the scheme's)")
    listen.add_argument("--config", help="take scheme and secret from this routes file ...")
    listen.add_argument("--route", help="... and this route")
    listen.set_defaults(func=cmd_listen)

    produce = sub.add_parser("produce", help="produce sample events or a JSON file to a topic")
    produce.add_argument("--bootstrap", required=True, help="host:port of the broker")
    produce.add_argument("--topic", required=True)
    which = produce.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--sample",
        nargs="+",
        metavar="TYPE",
        help="built-in samples by type (queued, ringing, in-progress, ended, status-changed)",
    )
    which.add_argument("--file", help="JSON file: one event or a list (values or envelopes)")
    produce.add_argument("--count", type=int, default=1, help="send the events this many times")
    produce.add_argument("--key", help="the record key (default: the envelope's)")
    produce.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for acks")
    produce.set_defaults(func=cmd_produce)
