"""``kafkahooks endpoints …``: the operator's commands on the endpoint store.

Every command reads the store directly (its topic, from the routes file's
``endpoint_store`` section): it loads the store up to now, then acts.  A write is
**conditional**: it names, as its ``revision``, the offset of the record it read for
that endpoint (-1 for a create); the command then reads the store up to its own
record and checks that its record is the one in force (``offset_of(id)`` equals the
offset it wrote).  Otherwise another writer came first: every reader ignores the
losing record, and the command says "conflict" and exits 1.  ``import`` and
``reencrypt`` write pipelined (all records produced, then every acknowledgement
awaited, then one read up to the last one) and check every record the same way.

Exit status: 0 done; 1 a conflict, a store that cannot be read or written in time,
or lines of an import that failed; 2 bad usage or configuration (an invalid spec, a
URL the transport guard refuses, a limit, an unknown id, a missing or misshapen store
topic, a key id missing from ``encryption_keys`` in ``check``).

Invariants: a signing secret is printed only by ``create`` and ``rotate-secret``, once,
to stdout, labelled (and not at all when it came from stdin); ``list``, ``get`` and
every other output show the describe form (URL path and query masked, header names
only).  Nothing here logs a secret, a URL path or a header value.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kafkahooks.cli.common import usage_error
from kafkahooks.cli.storesession import (
    Session,
    endpoint_or_exit,
    fail,
    guard_url,
    open_session,
    out,
    parse_spec,
    print_endpoint,
    print_table,
    process_settings,
    read_back,
    validation_message,
    write_checked,
)

if TYPE_CHECKING:
    from kafkahooks.endpoints import Endpoint

# The routes file, the store's Kafka clients, the cipher and the HTTP client are imported
# by the commands that use them: ``endpoints --help`` starts without them.

__all__ = [
    "add_endpoints_command",
    "expiry_seconds",
    "header_pairs",
    "metadata_pairs",
    "spec_fields",
]

DEFAULT_TIMEOUT = 60.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


# -- parsing options (pure: unit-tested) ----------------------------------------------------


def header_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``['Name: value', ...]`` as a dict; exit 2 naming the option on a bad one."""
    headers: dict[str, str] = {}
    for value in values or ():
        name, sep, rest = value.partition(":")
        if not sep or not name.strip():
            usage_error(f"{option}: give 'Name: value' (got no ':' or no name)")
        headers[name.strip()] = rest.strip()
    return headers


def metadata_pairs(values: list[str] | None) -> dict[str, str]:
    """``['k=v', ...]`` as a dict; exit 2 on a value without ``=``."""
    pairs: dict[str, str] = {}
    for value in values or ():
        key, sep, rest = value.partition("=")
        if not sep or not key:
            usage_error(f"--metadata: give key=value (got {key[:40]!r} without '=')")
        pairs[key] = rest
    return pairs


def expiry_seconds(text: str) -> float:
    """``--expire-previous``: ``now`` (0), ``24h``, ``30m``, ``7d``, ``90s`` or seconds."""
    if text.strip().lower() == "now":
        return 0.0
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give now, SECONDS, or N followed by s|m|h|d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _read_json(source: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as exc:
        usage_error(f"--json {source}: {exc.strerror or exc}")
    except ValueError as exc:
        usage_error(f"--json {source}: not JSON ({exc})")
    if not isinstance(data, dict):
        usage_error(f"--json {source}: give one JSON object")
    return data


def spec_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The spec fields the options say (``--json`` first, options on top): the whole spec
    of a create, or the merge patch of an update."""
    data: dict[str, Any] = _read_json(args.json) if args.json is not None else {}
    simple = {"url": args.url, "description": args.description, "rate_limit": args.rate_limit}
    data.update({name: value for name, value in simple.items() if value is not None})
    if args.event_type:
        data["event_types"] = list(args.event_type)
    if args.route:
        data["routes"] = list(args.route)
    for option, name in (("header", "headers"), ("secret_header", "secret_headers")):
        given = header_pairs(getattr(args, option), "--" + option.replace("_", "-"))
        if given:
            data[name] = {**(data.get(name) or {}), **given}
    if args.metadata:
        data["metadata"] = {**(data.get("metadata") or {}), **metadata_pairs(args.metadata)}
    if args.inactive:
        data["active"] = False
    return data


def _stdin_secret() -> str:
    secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        usage_error("--secret-from-stdin: stdin gave no secret (one line expected)")
    return secret


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the commands -----------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace) -> int:
    from kafkahooks.endpoints import create_endpoint

    if args.secret_from_stdin and args.json == "-":
        usage_error("create: --json - and --secret-from-stdin both read stdin; give one a file")
    data = spec_fields(args)
    tenant = args.tenant if args.tenant is not None else data.get("tenant")
    data.pop("tenant", None)
    if tenant is None or tenant == "":
        usage_error('create: give --tenant (or "tenant" in --json)')
    secret = _stdin_secret() if args.secret_from_stdin else None
    settings = process_settings()
    spec = parse_spec(data, settings.allow_local_targets)
    session = open_session(args, create=True)
    try:
        limit = session.per_tenant
        have = session.table.count_for(str(tenant))
        if have >= limit:
            usage_error(
                f"tenant {str(tenant)!r} has {have} endpoints; the limit is {limit} "
                "(endpoint_store.max_endpoints_per_tenant)"
            )
        try:
            ep = create_endpoint(spec, str(tenant), secret=secret, now=time.time())
        except ValueError as exc:
            usage_error(f"create: {exc}")
        held = write_checked(session, ep, -1)
    finally:
        session.close()
    print_endpoint(held)
    if secret is None:
        print(f"signing secret (shown once, not stored in clear anywhere): "
              f"{ep.secrets[0].value.get_secret_value()}")  # fmt: skip
    else:
        print("signing secret: the one read from stdin (not shown)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from kafkahooks.endpoints import describe_endpoint

    session = open_session(args)
    session.close()
    table = session.table
    endpoints = list(table.for_tenant(args.tenant) if args.tenant else table.endpoints())
    endpoints.sort(key=lambda ep: ep.id)  # ids are time-ordered: oldest first
    if args.json_output:
        now = time.time()
        out(json.dumps([describe_endpoint(ep, now) for ep in endpoints], indent=2,
                        ensure_ascii=False))  # fmt: skip
    elif endpoints:
        print_table(endpoints)
    else:
        which = f" for tenant {args.tenant!r}" if args.tenant else ""
        print(f"no endpoints{which} in store topic {session.topic!r}", file=sys.stderr)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    session = open_session(args)
    session.close()
    print_endpoint(endpoint_or_exit(session, args.id))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from kafkahooks.endpoints import update_endpoint

    patch = spec_fields(args)
    if not patch:
        usage_error("update: nothing to change (give options or --json PATCH)")
    session = open_session(args)
    try:
        ep = endpoint_or_exit(session, args.id)
        try:
            new = update_endpoint(ep, patch, time.time(), allow_local=session.allow_local)
        except ValidationError as exc:
            usage_error(f"invalid update of {ep.id}:\n{validation_message(exc)}")
        except ValueError as exc:
            usage_error(f"update {ep.id}: {exc}")
        if new.url != ep.url:
            guard_url(new.url, session.allow_local)
        held = write_checked(session, new, ep.offset)
    finally:
        session.close()
    print_endpoint(held)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from kafkahooks.endpoints import recover_key, status_key
    from kafkahooks.kafka import StoreWriteError

    session = open_session(args)
    try:
        if session.table.offset_of(args.id) == -1:  # (one it cannot decrypt may go)
            endpoint_or_exit(session, args.id)
        ep = session.table.get(args.id)
        # the endpoint's key and those of kafkahooks' records of it (status, recover job)
        keys: list[tuple[str, bytes | None]] = [
            (args.id, None),
            (status_key(args.id), None),
            (recover_key(args.id), None),
        ]
        results = session.log.write_many(keys, session.timeout)
        for result in results:
            if isinstance(result, StoreWriteError):
                fail(str(result))
        read_back(session, max(r for r in results if isinstance(r, int)))
    finally:
        session.close()
    print(f"deleted {args.id}" + (f" (tenant {ep.tenant!r})" if ep is not None else ""))
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    from kafkahooks.endpoints import EndpointLimitError, rotate_secret

    secret = _stdin_secret() if args.secret_from_stdin else None
    session = open_session(args)
    try:
        ep = endpoint_or_exit(session, args.id)
        now = time.time()
        try:
            new, value = rotate_secret(
                ep, now, new_secret=secret, previous_valid_for=args.expire_previous
            )
        except (EndpointLimitError, ValueError) as exc:
            usage_error(f"rotate-secret {ep.id}: {exc}")
        write_checked(session, new, ep.offset)
    finally:
        session.close()
    if secret is None:
        print(f"new signing secret for {ep.id} (shown once): {value}")
    else:
        print(f"new signing secret for {ep.id}: the one read from stdin (not shown)")
    if args.expire_previous > 0:
        print(f"the previous secret stays valid until {_when(now + args.expire_previous)} "
              "(both sign until then)")  # fmt: skip
    else:
        print("the previous secrets expired now: only the new one signs")
    return 0


def _set_active(args: argparse.Namespace, active: bool) -> int:
    from kafkahooks.endpoints import set_active

    session = open_session(args)
    try:
        ep = endpoint_or_exit(session, args.id)
        # always a new revision: it voids a disable by kafkahooks (auto-disable)
        write_checked(session, set_active(ep, active, time.time()), ep.offset)
    finally:
        session.close()
    voided = ep.status.disabled if ep.status is not None and active else None
    note = f" (kafkahooks' disable, {voided.detail}, no longer applies)" if voided else ""
    print(f"{ep.id}: {'enabled' if active else 'disabled'}{note}")
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    return _set_active(args, True)


def cmd_disable(args: argparse.Namespace) -> int:
    return _set_active(args, False)


def cmd_check(args: argparse.Namespace) -> int:
    session = open_session(args, warn=False)
    session.close()
    table = session.table
    tenants = {ep.tenant for ep in table.endpoints()}
    print(f"store topic {session.topic!r}: loaded in {session.load_seconds:.2f} s")
    print(f"  records read: {table.records_read:,} (superseded versions included)")
    print(f"  endpoints: {len(table):,} for {len(tenants):,} tenants")
    statuses = [ep.status for ep in table.endpoints() if ep.status is not None]
    disabled = sum(1 for st in statuses if st.disabled is not None)
    failing = sum(1 for st in statuses if st.disabled is None and st.failing_since is not None)
    print(f"  disabled by kafkahooks: {disabled:,}; failing (clock running): {failing:,}")
    by_key = ", ".join(f"{k}: {n:,}" for k, n in sorted(table.records_by_key.items()))
    print(f"  records per key id: {by_key or 'none'}")
    rejected = ", ".join(f"{r}: {n:,}" for r, n in sorted(table.rejected.items()))
    print(f"  rejected records: {rejected or 'none'}")
    print(f"  conflicting writes ignored: {table.conflicts_ignored:,}")
    missing = table.missing_keys
    if missing:
        names = ", ".join(f"{k} ({n:,} records)" for k, n in sorted(missing.items()))
        fail(f"missing key ids: {names}: add them to endpoint_store.encryption_keys", 2)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from kafkahooks.cli.bulk import cmd_import as run

    return run(args)


def cmd_reencrypt(args: argparse.Namespace) -> int:
    from kafkahooks.cli.bulk import cmd_reencrypt as run

    return run(args)


# -- test: one signed sample delivery ------------------------------------------------------------


def cmd_test(args: argparse.Namespace) -> int:
    import asyncio

    from kafkahooks.config import shown_url
    from kafkahooks.delivery import DeliveryError, response_excerpt

    session = open_session(args)
    session.close()
    ep = endpoint_or_exit(session, args.id)
    request, route_name, event_type = _test_request(session, ep, args)
    guard_url(ep.url, session.allow_local)
    out(f"POST {shown_url(ep.url)} (endpoint {ep.id}, route {route_name}, "
         f"event type {event_type})")  # fmt: skip
    if not ep.enabled:
        by = "" if not ep.active else " by kafkahooks (enable it to resume)"
        out(f"# note: the endpoint is disabled{by} (no event matches it); sent anyway")
    try:
        status, body, elapsed = asyncio.run(_send(request))
    except DeliveryError as exc:
        out(f"← not delivered: {exc.reason}")
        return 1
    out(f"← HTTP {status} in {elapsed * 1000:.0f} ms")
    if body:
        out(response_excerpt(body))
    return 0 if 200 <= status < 300 else 1


def _test_request(session: Session, ep: Endpoint, args: argparse.Namespace) -> tuple[Any, str, Any]:
    """The signed request a route with ``endpoints:`` would send ``ep`` for a sample event
    (``delivery/sample.py``, shared with the API's test send)."""
    from kafkahooks.cli.commands import no_sample_message
    from kafkahooks.delivery import NoSampleError, compile_route, sample_request, tenant_routes
    from kafkahooks.endpoints import MemoryDirectory
    from kafkahooks.samples import event_from_path

    routes = tenant_routes(session.config.routes, ep, args.route)
    if not routes:
        usage_error(f"{ep.id}: no route with endpoints: delivers to it"
                    + (f" named {args.route!r}" if args.route else ""))  # fmt: skip
    event = None if args.event is None else event_from_path(args.event, routes[0].topics[0])
    try:
        sample = sample_request(
            routes[0], ep, session.allow_local, event_type=args.event_type, event=event
        )
    except NoSampleError as exc:
        route = compile_route(routes[0], session.allow_local, directory=MemoryDirectory([ep]))
        usage_error(no_sample_message(route, exc.event_type, exc.types))
    return sample.request, sample.route, sample.event_type


async def _send(request: Any) -> tuple[int, bytes, float]:
    from kafkahooks.delivery import send_once

    result = await send_once(request)
    return result.status, result.body, result.seconds


# -- the parser -----------------------------------------------------------------------------------


def _spec_options(parser: argparse.ArgumentParser, *, create: bool) -> None:
    parser.add_argument("--url", required=False, help="https:// target (the guard checks it)")
    parser.add_argument("--description")
    parser.add_argument(
        "--event-type",
        action="append",
        metavar="TYPE",
        help="an event type it takes (repeat; default every type: *)",
    )
    parser.add_argument(
        "--route",
        action="append",
        metavar="ROUTE",
        help="a route it takes events of (repeat; default every route)",
    )
    parser.add_argument("--header", action="append", metavar="'NAME: VALUE'")
    parser.add_argument(
        "--secret-header",
        action="append",
        metavar="'NAME: VALUE'",
        help="a header whose value is encrypted at rest and never printed",
    )
    parser.add_argument("--rate-limit", type=float, metavar="PER_SECOND")
    parser.add_argument("--metadata", action="append", metavar="KEY=VALUE")
    parser.add_argument(
        "--inactive",
        action="store_true",
        help="created disabled" if create else "disable it (also: disable ID)",
    )
    parser.add_argument("--json", metavar="FILE|-",
                        help="the spec as a JSON object" if create
                        else "a JSON merge patch (null resets or removes)")  # fmt: skip


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the routes file (endpoint_store)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds to load the store or have a write read back")  # fmt: skip


def add_endpoints_command(sub: Any) -> None:
    """Register ``endpoints`` and its sub-commands on the CLI's sub-parsers."""
    top = sub.add_parser("endpoints", help="customer endpoints: create, list, rotate, import …")
    cmds = top.add_subparsers(dest="endpoints_command", required=True)

    def command(name: str, func: Any, text: str, *, with_id: bool = True) -> Any:
        parser = cmds.add_parser(name, help=text)
        _common(parser)
        if with_id:
            parser.add_argument("id", help="endpoint id (ep_…)")
        parser.set_defaults(func=func)
        return parser

    create = command("create", cmd_create, "register an endpoint; prints its secret once",
                     with_id=False)  # fmt: skip
    create.add_argument("--tenant")
    _spec_options(create, create=True)
    create.add_argument("--secret-from-stdin", action="store_true",
                        help="use the secret on stdin's first line (not printed)")  # fmt: skip

    listing = command("list", cmd_list, "list endpoints (never secrets)", with_id=False)
    listing.add_argument("--tenant")
    listing.add_argument("--json", dest="json_output", action="store_true")

    command("get", cmd_get, "show one endpoint (never secrets)")
    _spec_options(command("update", cmd_update, "change an endpoint (conditional)"),
                  create=False)  # fmt: skip
    command("delete", cmd_delete, "delete an endpoint (a tombstone)")

    rotate = command("rotate-secret", cmd_rotate, "new signing secret; prints it once")
    rotate.add_argument(
        "--expire-previous",
        type=expiry_seconds,
        default=86400.0,
        metavar="now|24h|SECONDS",
        help="how long the previous secret still signs (default 24h)",
    )
    rotate.add_argument("--secret-from-stdin", action="store_true")
    command("enable", cmd_enable, "enable an endpoint")
    command("disable", cmd_disable, "disable an endpoint")

    test = command("test", cmd_test, "send one signed sample event to an endpoint")
    test.add_argument("--route", help="the route whose template to use (default: the first)")
    which = test.add_mutually_exclusive_group()
    which.add_argument("--event-type", help="a built-in sample event of this type")
    which.add_argument("--event", help="JSON file: the value, or an envelope")

    imp = command("import", cmd_import, "create/update endpoints from JSON lines, "
                  "idempotent by client key", with_id=False)  # fmt: skip
    imp.add_argument("file", help="JSON lines: tenant, client_key, spec fields (+ secret)")
    imp.add_argument(
        "--secrets-out",
        metavar="FILE",
        help="write created endpoints' new secrets here (mode 0600)",
    )
    command("reencrypt", cmd_reencrypt, "rewrite records not under the first key",
            with_id=False)  # fmt: skip
    command("check", cmd_check, "load the store and report it", with_id=False)
