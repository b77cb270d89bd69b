"""The endpoint store for one ``kafkahooks endpoints`` command: load, look up, write, print.

A command loads the store up to now (``app/store.py``), acts, and closes it.  A write
is **conditional**: it names, as its ``revision``, the offset of the record it read for
that endpoint (-1 for a create); :func:`write_checked` then reads the store up to its
own record and checks that this record is the one in force (``offset_of(id)`` equals
the offset written).  Otherwise another writer came first: every reader ignores the
losing record, and the command says :data:`CONFLICT` and exits 1.

Invariant: what is printed is the describe form (URL path and query masked, header
names only), escaped for the terminal; no function here prints or logs a secret.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from kafkahooks.cli.common import usage_error

if TYPE_CHECKING:
    from pydantic import ValidationError

    from kafkahooks.app import Settings
    from kafkahooks.config import RoutesFile
    from kafkahooks.endpoints import Endpoint, EndpointSpec, EndpointTable, Keyring
    from kafkahooks.kafka import StoreLog

__all__ = [
    "CONFLICT",
    "Session",
    "active_text",
    "encode_or_exit",
    "endpoint_or_exit",
    "fail",
    "guard_url",
    "open_session",
    "out",
    "parse_spec",
    "print_endpoint",
    "print_table",
    "process_settings",
    "read_back",
    "url_refusal",
    "validation_message",
    "write_checked",
]

CONFLICT = "conflict: the endpoint was changed by someone else; nothing was changed"


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    print(message, file=sys.stderr)
    raise SystemExit(code)


def validation_message(exc: ValidationError) -> str:
    """A spec's problems, one per line, located (input values are never shown)."""
    lines = []
    for error in exc.errors(include_input=False):
        where = ".".join(str(p) for p in error["loc"]) or "spec"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


# -- the store, for one command --------------------------------------------------------------


@dataclass
class Session:
    """One command's view of the store: the routes file, the loaded table, the keyring."""

    source: str
    config: RoutesFile
    settings: Settings
    log: StoreLog
    table: EndpointTable
    keyring: Keyring
    timeout: float
    load_seconds: float = 0.0
    closed: bool = field(default=False)

    @property
    def allow_local(self) -> bool:
        return self.settings.allow_local_targets

    @property
    def per_tenant(self) -> int:
        """``endpoint_store.max_endpoints_per_tenant``."""
        assert self.config.endpoint_store is not None  # _config() checked it
        return self.config.endpoint_store.max_endpoints_per_tenant

    @property
    def topic(self) -> str:
        return self.log.topic

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.log.close()


def process_settings() -> Settings:
    """The process's ``KAFKAHOOKS_*`` settings (the allow-local switch)."""
    from kafkahooks.app import Settings

    return Settings()


def _config(path: str) -> RoutesFile:
    from kafkahooks.cli.common import load_or_exit

    config = load_or_exit(path)
    if config.endpoint_store is None:
        usage_error(
            f"{path}: no endpoint_store section (topic, encryption_keys): the endpoint "
            "commands read and write the store it names"
        )
    return config


def open_session(args: argparse.Namespace, *, create: bool = False, warn: bool = True) -> Session:
    """The store loaded up to now; exit 2 for a configuration problem (no section, a bad
    key spec, a missing or misshapen topic), 1 when it cannot be read in time.
    ``create``: create a missing store topic (1 partition, compacted) first."""
    from kafkahooks.app import open_store
    from kafkahooks.kafka import StoreError, StoreTopicError

    config = _config(args.config)
    settings = process_settings()
    try:
        store = open_store(
            config, follow=False, create=create, timeout=args.timeout, missing_keys_ok=True
        )
    except ValueError as exc:  # the key spec (named by position, never shown)
        usage_error(f"{args.config}: endpoint_store.encryption_keys: {exc}")
    except StoreTopicError as exc:
        usage_error(str(exc))
    except StoreError as exc:
        fail(str(exc))
    session = Session(
        args.config, config, settings, store.log, store.table, store.keyring, args.timeout,
        store.loaded.seconds,
    )  # fmt: skip
    for kid, count in sorted(store.table.missing_keys.items()) if warn else ():
        print(
            f"warning: {count} record(s) are encrypted under key id {kid!r}, which "
            "endpoint_store.encryption_keys lacks (kafkahooks endpoints check)",
            file=sys.stderr,
        )
    return session


def endpoint_or_exit(session: Session, endpoint_id: str) -> Endpoint:
    """The endpoint ``endpoint_id`` as the store holds it now; exit 2 if there is none
    (or its current record cannot be decrypted here)."""
    from kafkahooks.endpoints import version_in_force

    table = session.table
    ep = version_in_force(table, endpoint_id)
    if ep is not None:
        return ep
    if table.offset_of(endpoint_id) != -1:
        missing = [k for k in table.keys_of(endpoint_id) if k not in session.keyring]
        fail(
            f"endpoint {endpoint_id}: its current record is encrypted under key id(s) "
            f"{', '.join(missing) or '?'}, which endpoint_store.encryption_keys lacks",
            2,
        )
    fail(f"no endpoint {endpoint_id} in store topic {session.topic!r}", 2)


def url_refusal(url: str, allow_local: bool) -> str | None:
    """Why the transport guard refuses ``url`` at write time (https, no non-public
    address literal in any spelling, unless KAFKAHOOKS_ALLOW_LOCAL_TARGETS), or ``None``."""
    from kafkahooks.delivery import TargetPolicy, TargetRefused, check_url

    try:
        check_url(url, TargetPolicy(allow_local, allow_local))
    except TargetRefused as exc:
        return f"url refused by the transport guard: {exc}"
    return None


def guard_url(url: str, allow_local: bool) -> None:
    """:func:`url_refusal`, or exit 2 saying it."""
    refusal = url_refusal(url, allow_local)
    if refusal is not None:
        usage_error(refusal)


def parse_spec(data: dict[str, Any], allow_local: bool) -> EndpointSpec:
    """The checked spec; exit 2 listing its problems."""
    from pydantic import ValidationError

    from kafkahooks.endpoints import EndpointSpec

    try:
        spec = EndpointSpec.parse(data, allow_local=allow_local)
    except ValidationError as exc:
        usage_error(f"invalid endpoint:\n{validation_message(exc)}")
    guard_url(spec.url, allow_local)
    return spec


def encode_or_exit(session: Session, ep: Endpoint, revision: int) -> bytes:
    from kafkahooks.endpoints import EndpointLimitError, encode_endpoint

    try:
        return encode_endpoint(ep, session.keyring, revision, time.time())
    except EndpointLimitError as exc:
        usage_error(str(exc))


def read_back(session: Session, offset: int) -> None:
    """Read the store up to ``offset`` (this command's own write); exit 1 if it cannot."""
    if not session.log.wait_applied(offset, session.timeout):
        fail(
            f"wrote offset {offset} to store topic {session.topic!r} but could not read it "
            f"back within {session.timeout:g}s: run `kafkahooks endpoints get` to see which "
            "version is in force"
        )


def write_checked(session: Session, ep: Endpoint, revision: int) -> Endpoint:
    """Write ``ep`` replacing the record at ``revision``; the version now in force, or
    exit 1 saying conflict (another writer's record came first)."""
    from kafkahooks.endpoints import written_in_force
    from kafkahooks.kafka import StoreWriteError

    value = encode_or_exit(session, ep, revision)
    try:
        offset = session.log.write(ep.id, value, session.timeout)
    except StoreWriteError as exc:
        fail(str(exc))
    read_back(session, offset)
    held = session.table.get(ep.id)
    if not written_in_force(session.table, ep.id, offset) or held is None:
        fail(f"{ep.id}: {CONFLICT}")
    return held


# -- printing ---------------------------------------------------------------------------------


def out(text: str) -> None:
    from kafkahooks.cli.commands import escape_terminal

    print(escape_terminal(text))


def print_endpoint(ep: Endpoint) -> None:
    """The describe form (never a secret, a URL path or a header value), as JSON."""
    from kafkahooks.endpoints import describe_endpoint

    out(json.dumps(describe_endpoint(ep, time.time()), indent=2, ensure_ascii=False))


def active_text(ep: Endpoint) -> str:
    """``yes``, ``no`` (its tenant's), ``no (kafkahooks: <reason>)`` (auto-disabled: the
    tenant's ``active`` is still true), ``yes (failing since <time>)``."""
    status = ep.status if ep.active else None
    if status is not None and status.disabled is not None:
        return f"no (kafkahooks: {status.disabled.reason})"
    if status is not None and status.failing_since is not None:
        return f"yes (failing since {_utc(status.failing_since)})"
    return "yes" if ep.active else "no"


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def print_table(endpoints: list[Endpoint]) -> None:
    from kafkahooks.config import shown_url

    rows = [("ID", "TENANT", "ACTIVE", "URL", "EVENT TYPES", "DESCRIPTION")]
    for ep in endpoints:
        types = ",".join(ep.event_types)
        rows.append(
            (ep.id, ep.tenant, active_text(ep), shown_url(ep.url),
             types if len(types) <= 40 else types[:37] + "...",
             ep.description if len(ep.description) <= 40 else ep.description[:37] + "...")
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        padded = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        out("  ".join([*padded, row[-1]]).rstrip())
