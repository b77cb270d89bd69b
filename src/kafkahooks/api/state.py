"""The API replica's view of the store: endpoints, tokens and idempotency keys, followed.

One :class:`~kafkahooks.kafka.StoreLog` reads the store topic from its beginning up to
a marker (the start-up load), then follows it on one thread; each record goes to the
table its key belongs to (``ep_…`` endpoints, with ``health/…`` the bridge's status of
them, so an answer shows the effective state, and ``recover/…`` their recover jobs;
``token/…`` tokens, ``idem/…`` idempotency keys, ``portal/…`` portal sessions; other
kinds are ignored here).  Nothing is kept on local disk: a new replica is as current as
the store.

A write (:meth:`ApiStore.write`) returns only once the broker acknowledged the record
(``acks=all``, idempotent producer) **and** this replica's follower applied it, so the
answer a client gets already reflects its write here; :meth:`ApiStore.reached` is how
a read honours ``Kafkahooks-Min-Offset`` (another replica's write).
Invariant: every write names the store offset it was applied at, and a caller learns
whether a conditional record won by comparing the table's ``offset_of`` with it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Protocol

from anyio import to_thread

from kafkahooks.api.idempotency import IdempotencyTable
from kafkahooks.api.portalsessions import PORTAL_PREFIX, PortalSessionTable
from kafkahooks.api.tokens import TokenTable
from kafkahooks.config import RoutesFile
from kafkahooks.endpoints import RECOVER_PREFIX, STATUS_PREFIX, EndpointTable, Keyring

if TYPE_CHECKING:
    from kafkahooks.kafka import StoreLog

__all__ = ["ApiStore", "KafkaApiStore", "StoreTables", "open_api_store"]

log = logging.getLogger("kafkahooks.api")

WRITE_TIMEOUT = 10.0  # seconds: the broker's ack, then this replica applying the record
_TICK = 0.005  # how often an awaiting request looks at the applied offset


class StoreTables:
    """The tables one store feeds; :meth:`apply` hands each record to its table."""

    def __init__(self, keyring: Keyring, tokens: TokenTable) -> None:
        self.keyring = keyring
        self.endpoints = EndpointTable(keyring)
        self.tokens = tokens
        self.idempotency = IdempotencyTable(keyring)
        self.portal = PortalSessionTable()

    def apply(self, key: str, value: bytes | None, offset: int) -> object:
        if key.startswith(("ep_", STATUS_PREFIX, RECOVER_PREFIX)):  # an endpoint, or of one
            return self.endpoints.apply(key, value, offset)
        if key.startswith("token/"):
            return self.tokens.apply(key, value, offset)
        if key.startswith("idem/"):
            return self.idempotency.apply(key, value, offset)
        if key.startswith(PORTAL_PREFIX):
            return self.portal.apply(key, value, offset)
        return False


class ApiStore(Protocol):
    """What the API needs of the store (a fake in unit tests)."""

    tables: StoreTables
    max_per_tenant: int

    @property
    def applied(self) -> int: ...

    async def write(self, key: str, value: bytes | None) -> int:
        """Write one record; its offset once acknowledged and applied here.  Raises
        ``StoreWriteError`` (not acknowledged) or ``TimeoutError`` (not applied)."""
        ...

    async def reached(self, offset: int, timeout: float) -> bool:
        """Whether this replica applied ``offset`` within ``timeout``."""
        ...

    def problem(self) -> str | None:
        """Why this replica should not take requests now (``/healthz`` answers 503)."""
        ...


class KafkaApiStore:
    """:class:`ApiStore` on the real store topic."""

    def __init__(self, tables: StoreTables, log_: StoreLog, max_per_tenant: int) -> None:
        self.tables = tables
        self._log = log_
        self.max_per_tenant = max_per_tenant
        self.load_seconds = 0.0

    @property
    def applied(self) -> int:
        return self._log.applied

    @property
    def topic(self) -> str:
        return self._log.topic

    async def write(self, key: str, value: bytes | None) -> int:
        offset = await to_thread.run_sync(self._log.write, key, value, WRITE_TIMEOUT)
        if not await self.reached(offset, WRITE_TIMEOUT):
            raise TimeoutError(f"store offset {offset} written but not applied here in time")
        return offset

    async def reached(self, offset: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._log.applied < offset:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_TICK)
        return True

    def problem(self) -> str | None:
        if not self._log.following:
            return "the store follower is not running: this replica no longer sees changes"
        missing = self.tables.endpoints.missing_keys
        if missing:
            named = ", ".join(f"{kid!r} ({n} records)" for kid, n in sorted(missing.items()))
            return f"store records are under key ids endpoint_store.encryption_keys lacks: {named}"
        return None

    def close(self) -> None:
        self._log.close()


def open_api_store(config: RoutesFile, tokens: TokenTable, timeout: float) -> KafkaApiStore:
    """The store named by ``config.endpoint_store``, read to its end and followed.
    Raises the store's errors (``StoreTopicError``, ``StoreUnavailableError``), or
    ``ValueError`` for a malformed key spec."""
    from kafkahooks.app import collector_paused, store_properties
    from kafkahooks.kafka import StoreLog, ensure_store_topic

    settings = config.endpoint_store
    if settings is None:
        raise ValueError("the routes file has no endpoint_store section (topic, encryption_keys)")
    keyring = Keyring.parse(settings.encryption_keys.get_secret_value())
    props = store_properties(config)
    ensure_store_topic(props, settings.topic, timeout)
    tables = StoreTables(keyring, tokens)
    store_log = StoreLog(props, settings.topic, tables.apply, name="api")
    try:
        with collector_paused():  # the records make no cycles (app/gctune.py)
            loaded = store_log.load(timeout)
        store_log.follow()
    except BaseException:
        store_log.close()
        raise
    store = KafkaApiStore(tables, store_log, settings.max_endpoints_per_tenant)
    store.load_seconds = loaded.seconds
    log.info(
        "api store loaded",
        extra={"topic": settings.topic, "endpoints": len(tables.endpoints),
               "records": loaded.records, "seconds": round(loaded.seconds, 3)},
    )  # fmt: skip
    return store
