"""``endpoints import`` and ``endpoints reencrypt``: many records, one load, pipelined writes.

One process loads the store once, plans every record against that load, writes them
all pipelined (produced, then every acknowledgement awaited: ``StoreLog.write_many``),
reads the store once up to the last one, and checks each record is the one in force
(a record another writer beat is a conflict, reported for its line or id).

Import is idempotent by ``(tenant, client_key)``: the client key is kept in the
endpoint's ``metadata["client_key"]``; a line whose key exists is that endpoint's whole
spec (updated when it differs, otherwise unchanged; its secrets are kept).
Invariant: no secret is printed; new ones go only to ``--secrets-out`` (mode 0600).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kafkahooks.cli.common import usage_error
from kafkahooks.cli.storesession import (
    CONFLICT,
    Session,
    open_session,
    read_back,
    url_refusal,
    validation_message,
)

if TYPE_CHECKING:
    from kafkahooks.endpoints import Endpoint
    from kafkahooks.kafka import StoreWriteError

__all__ = [
    "ImportLine",
    "Importer",
    "Planned",
    "cmd_import",
    "cmd_reencrypt",
    "parse_import_line",
    "write_pipelined",
]


# -- pipelined writes: import and reencrypt ----------------------------------------------------


@dataclass
class Planned:
    """One record a pipelined command means to write, and what it is for."""

    ep: Endpoint
    value: bytes
    kind: str  # created / updated / reencrypted
    line: int = 0
    secret: str | None = None  # a new secret nobody has seen (import --secrets-out)


def write_pipelined(session: Session, plan: list[Planned]) -> list[str | None]:
    """Write every planned record, read up to the last, and say per record ``None`` (it
    is in force) or why not."""
    results: list[int | StoreWriteError] = session.log.write_many(
        [(p.ep.id, p.value) for p in plan], session.timeout
    )
    offsets = [r for r in results if isinstance(r, int)]
    if offsets:
        read_back(session, max(offsets))
    table = session.table
    return [
        str(r) if not isinstance(r, int) else None if table.offset_of(p.ep.id) == r else CONFLICT
        for p, r in zip(plan, results, strict=True)
    ]


@dataclass
class ImportLine:
    tenant: str
    client_key: str
    fields: dict[str, Any]
    secret: str | None


def parse_import_line(text: str) -> ImportLine:
    """One line of an import file; ``ValueError`` saying what is wrong."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    tenant, key, secret = data.pop("tenant", None), data.pop("client_key", None), None
    if isinstance(tenant, bool) or not isinstance(tenant, str | int) or tenant == "":
        raise ValueError("tenant: give a non-empty string or an integer")
    if not isinstance(key, str) or not key:
        raise ValueError("client_key: give a non-empty string")
    if "secret" in data:
        secret = data.pop("secret")
        if not isinstance(secret, str):
            raise ValueError("secret: give a string")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValueError("metadata: give an object")
    data["metadata"] = {**metadata, "client_key": key}
    return ImportLine(str(tenant), key, data, secret)


@dataclass
class Importer:
    """Plans an import against the loaded table: what to create, update or leave."""

    session: Session
    now: float = field(default_factory=time.time)
    plan: list[Planned] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    unchanged: int = 0
    by_key: dict[tuple[str, str], Endpoint] = field(default_factory=dict)
    lines_of: dict[tuple[str, str], int] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for ep in self.session.table.endpoints():
            key = ep.metadata.get("client_key")
            if key is not None:
                self.by_key[(ep.tenant, key)] = ep
            self.counts[ep.tenant] += 1

    def take(self, number: int, text: str) -> None:
        from pydantic import ValidationError

        from kafkahooks.endpoints import EndpointLimitError

        try:
            self._take(number, parse_import_line(text))
        except ValidationError as exc:
            self.failed.append((number, "invalid endpoint: " + validation_message(exc).strip()))
        except (EndpointLimitError, ValueError) as exc:
            self.failed.append((number, str(exc)))

    def _take(self, number: int, line: ImportLine) -> None:
        from dataclasses import replace

        from kafkahooks.endpoints import EndpointSpec, create_endpoint, encode_endpoint, spec_of

        key = (line.tenant, line.client_key)
        if key in self.lines_of:
            raise ValueError(f"client key {line.client_key!r} of this tenant is on line "
                             f"{self.lines_of[key]} already")  # fmt: skip
        self.lines_of[key] = number
        allow_local = self.session.allow_local
        spec = EndpointSpec.parse(line.fields, allow_local=allow_local)
        fresh = create_endpoint(spec, line.tenant, secret=line.secret, now=self.now)
        held = self.by_key.get(key)
        if held is not None:  # the line is the endpoint's whole spec; its secrets stay
            if spec_of(fresh) == spec_of(held):
                self.unchanged += 1
                return
            ep, kind, revision, secret = (
                replace(fresh, id=held.id, secrets=held.secrets, created=held.created),
                "updated", held.offset, None,
            )  # fmt: skip
        else:
            limit = self.session.per_tenant
            if self.counts[line.tenant] >= limit:
                raise ValueError(f"tenant {line.tenant!r} would have more than {limit} "
                                 "endpoints (endpoint_store.max_endpoints_per_tenant)")  # fmt: skip
            self.counts[line.tenant] += 1
            secret = fresh.secrets[0].value.get_secret_value() if line.secret is None else None
            ep, kind, revision = fresh, "created", -1
        refusal = url_refusal(ep.url, allow_local)
        if refusal is not None:
            raise ValueError(refusal)
        value = encode_endpoint(ep, self.session.keyring, revision, self.now)
        self.plan.append(Planned(ep, value, kind, number, secret))


def _import_lines(path: str) -> list[str]:
    try:
        if path == "-":
            return sys.stdin.read().splitlines()
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        usage_error(f"import {path}: {getattr(exc, 'strerror', None) or exc}")


def _write_secrets(path: str, done: list[Planned]) -> None:
    """The new secrets of created endpoints, one JSON line each, in a file only its owner
    may read (created with mode 0600, never overwritten)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for p in done:
            line = {"tenant": p.ep.tenant, "client_key": p.ep.metadata.get("client_key"),
                    "id": p.ep.id, "secret": p.secret}  # fmt: skip
            f.write(json.dumps(line) + "\n")


def cmd_import(args: argparse.Namespace) -> int:
    lines = _import_lines(args.file)
    if args.secrets_out is not None and os.path.exists(args.secrets_out):
        usage_error(f"--secrets-out {args.secrets_out}: exists already (it is never overwritten)")
    started = time.monotonic()
    session = open_session(args, create=True)
    try:
        importer = Importer(session)
        for number, text in enumerate(lines, 1):
            if text.strip():
                importer.take(number, text)
        outcomes = write_pipelined(session, importer.plan) if importer.plan else []
    finally:
        session.close()
    done: Counter[str] = Counter()
    shown: list[Planned] = []
    for planned, why in zip(importer.plan, outcomes, strict=True):
        if why is None:
            done[planned.kind] += 1
            if planned.secret is not None:
                shown.append(planned)
        else:
            importer.failed.append((planned.line, why))
    for number, why in sorted(importer.failed):
        print(f"{args.file}:{number}: {why}", file=sys.stderr)
    if shown and args.secrets_out is not None:
        _write_secrets(args.secrets_out, shown)
    elif shown:
        print(f"note: {len(shown)} created endpoint(s) got a new signing secret that is not "
              "shown (give one per line as \"secret\", or --secrets-out FILE; "
              "rotate-secret gives a new one)", file=sys.stderr)  # fmt: skip
    print(f"imported {args.file}: {done['created']} created, {done['updated']} updated, "
          f"{importer.unchanged} unchanged, {len(importer.failed)} failed "
          f"in {time.monotonic() - started:.2f} s (store loaded in "
          f"{session.load_seconds:.2f} s)")  # fmt: skip
    return 1 if importer.failed else 0


def cmd_reencrypt(args: argparse.Namespace) -> int:
    from kafkahooks.endpoints import encode_endpoint

    session = open_session(args)
    try:
        table, now = session.table, time.time()
        before = table.records_by_key
        plan = []
        for ep_id in table.ids_to_reencrypt():
            ep = table.get(ep_id)
            if ep is not None:
                value = encode_endpoint(ep, session.keyring, table.offset_of(ep_id), now)
                plan.append(Planned(ep, value, "reencrypted"))
        outcomes = write_pipelined(session, plan) if plan else []
        after = table.records_by_key
    finally:
        session.close()
    failed = [(p.ep.id, why) for p, why in zip(plan, outcomes, strict=True) if why is not None]
    for ep_id, why in failed:
        print(f"{ep_id}: {why}", file=sys.stderr)
    print(f"re-encrypted {len(plan) - len(failed)} of {len(plan)} record(s) under key id "
          f"{session.keyring.primary!r}")  # fmt: skip
    for kid in sorted(set(before) | set(after)):
        print(f"  key id {kid}: {before.get(kid, 0):,} -> {after.get(kid, 0):,} records")
    missing = table.missing_keys
    if missing:
        print(f"  not readable here (missing key ids): {', '.join(sorted(missing))}",
              file=sys.stderr)  # fmt: skip
    return 1 if failed or missing else 0
