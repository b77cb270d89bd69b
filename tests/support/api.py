"""Test doubles and runners for the management API (``kafkahooks.api``).

* :class:`NameResolver`: a stub DNS (name → addresses; other names do not resolve);
  nothing is ever looked up or connected to.
* :class:`MemoryStore`: the API's store in memory (each write applied at once, at the
  next offset), with a hook to slip another writer's record in before a write.
* :class:`MemoryAudit`: the audit trail as a list, which can be made to fail.
* :class:`ApiServer`: the real app on uvicorn, on a free loopback port, in a thread.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn

from kafkahooks.api import ApiContext, Audit, AuditUnavailableError, StoreTables, TokenTable
from kafkahooks.config import AdminToken, RoutesFile
from kafkahooks.endpoints import Keyring, generate_key_spec
from kafkahooks.kafka import StoreWriteError

PUBLIC = "93.184.215.14"  # a public address a stub name resolves to (never connected to)


class NameResolver:
    def __init__(self, names: dict[str, list[str]] | None = None) -> None:
        self.names = dict(names or {})
        self.lookups: list[str] = []

    async def resolve(self, host: str) -> list[tuple[int, str]]:
        self.lookups.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "stub: no such name")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, a) for a in self.names[host]]


class MemoryStore:
    def __init__(self, tables: StoreTables, max_per_tenant: int = 50) -> None:
        self.tables = tables
        self.max_per_tenant = max_per_tenant
        self.records: list[tuple[str, bytes | None]] = []
        self.before_write: Callable[[str], None] | None = None
        self.fail = False

    @property
    def applied(self) -> int:
        return len(self.records) - 1

    def put(self, key: str, value: bytes | None) -> int:
        self.records.append((key, value))
        offset = len(self.records) - 1
        self.tables.apply(key, value, offset)
        return offset

    async def write(self, key: str, value: bytes | None) -> int:
        if self.fail:
            raise StoreWriteError("memory store: told to fail")
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook(key)
        return self.put(key, value)

    def problem(self) -> str | None:
        return None

    async def reached(self, offset: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.applied < offset:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True


class MemoryAudit:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.fail = False

    async def intent(self, audit: Audit) -> None:
        if self.fail:
            raise AuditUnavailableError("memory audit: told to fail")
        self.records.append(audit.intent())

    def outcome(self, audit: Audit, result: str, offset: int | None) -> None:
        self.records.append(audit.outcome(result, offset))


def routes_doc(
    bootstrap: str = "127.0.0.1:1", topic: str = "endpoints", keys: str | None = None, **api: Any
) -> dict[str, Any]:
    """A routes file with one tenant route (the demo's shape) and an ``api`` section."""
    return (
        {
            "kafka": {"bootstrap_servers": bootstrap, "delivery_log_topic": "deliveries"},
            "endpoint_store": {"topic": topic, "encryption_keys": keys or generate_key_spec("k1")},
            "api": api,
            "routes": [
                {
                    "name": "call-status",
                    "description": "Every status change of a call",
                    "topics": ["calls.status"],
                    "events": ["status-changed"],
                    "event_type": "value.event",
                    "template": {"event": "{{ value.event }}", "callId": "{{ key }}",
                                 "status": "{{ value.data.status }}"},
                    "on_missing": "omit",
                    "endpoints": {"tenant": "value.companionId"},
                    "signing": {"scheme": "standard-webhooks"},
                }
            ],
        }
    )  # fmt: skip


def routes_file(**kwargs: Any) -> RoutesFile:
    return RoutesFile.model_validate(routes_doc(**kwargs))


def admin_config(token_id: str, sha256: str, **api: Any) -> dict[str, Any]:
    return {"admin_tokens": [AdminToken(id=token_id, sha256=sha256).model_dump()], **api}


def memory_context(
    config: RoutesFile, resolver: NameResolver, *, max_per_tenant: int = 50
) -> tuple[ApiContext, MemoryStore, MemoryAudit]:
    from kafkahooks.api import build_catalogue

    assert config.api is not None and config.endpoint_store is not None
    keyring = Keyring.parse(config.endpoint_store.encryption_keys.get_secret_value())
    store = MemoryStore(StoreTables(keyring, TokenTable(config.api.admin_tokens)), max_per_tenant)
    audit = MemoryAudit()
    ctx = ApiContext(config.api, config, store, audit, resolver,
                     catalogue=build_catalogue(config))  # fmt: skip
    return ctx, store, audit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ApiServer:
    """``create_app(ctx)`` served by uvicorn on 127.0.0.1 in a thread of its own."""

    def __init__(self, ctx: ApiContext) -> None:
        from kafkahooks.api import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(ctx), host="127.0.0.1", port=self.port,
                           log_config=None, access_log=False, lifespan="off")
        )  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
