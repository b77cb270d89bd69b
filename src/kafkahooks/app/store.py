"""The replica's endpoint store: read to its end before anything is consumed, then followed.

A process whose routes have ``endpoints:`` (or a command that manages them) opens the
store topic named by ``endpoint_store``: it creates the topic if it is missing (one
partition, compacted), refuses any other shape, reads every record up to a marker of
its own (``kafka/storelog.py``) into an :class:`~kafkahooks.endpoints.EndpointTable`,
and then follows the topic on one thread, so a change applies to every event matched
after this replica applied it.

A bridge's store also carries the endpoints' health (``status=True``): an
:class:`~kafkahooks.endpoints.EndpointHealth` listening to the table (registered before
the load, so that void disables and orphaned status records found in the store are
settled once it is loaded) and the :class:`~kafkahooks.app.statuswriter.StatusWriter`
thread that writes its records and produces its events, and the
:class:`~kafkahooks.app.recover.RecoverRunner` thread that claims and runs the recover
jobs the API writes.

Invariant: :func:`open_store` returns only a store that was read to its end with every
record decryptable; a record under a key id the configuration lacks is a
:class:`StoreKeyError` that names the key ids and how many records use each, and the
bridge does not start (it would deliver with stale endpoints).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any

from kafkahooks.app.gctune import collector_paused
from kafkahooks.app.recover import RecoverRunner
from kafkahooks.app.settings import Settings
from kafkahooks.app.statuswriter import StatusWriter
from kafkahooks.config import EndpointStoreConfig, RoutesFile
from kafkahooks.endpoints import EndpointDirectory, EndpointHealth, EndpointTable, Keyring
from kafkahooks.errors import KafkahooksError
from kafkahooks.kafka import (
    StoreLoad,
    StoreLog,
    check_store_topic,
    ensure_store_topic,
    ensure_topics,
    producer_properties,
)

__all__ = [
    "EndpointDirectories",
    "EndpointStore",
    "StoreKeyError",
    "open_store",
    "store_properties",
]

log = logging.getLogger("kafkahooks.store")

LOAD_TIMEOUT = 120.0  # seconds: 100,000 endpoints load in a few (bench/results.md)
TOPIC_TIMEOUT = 30.0


class StoreKeyError(KafkahooksError):
    """Store records are encrypted under key ids that ``encryption_keys`` lacks."""


@dataclass
class EndpointStore:
    """An open store: its table (the endpoint directory) and the log that feeds it."""

    table: EndpointTable
    log: StoreLog
    loaded: StoreLoad
    keyring: Keyring
    max_per_tenant: int
    health: EndpointHealth | None = None  # a bridge's: auto-disable
    status_writer: StatusWriter | None = None
    recover: RecoverRunner | None = None  # a bridge's: runs recover jobs

    def close(self) -> None:
        if self.recover is not None:
            self.recover.close()
        if self.status_writer is not None:
            self.status_writer.close()
        self.log.close()

    def problem(self) -> str | None:
        """Why this replica must not be ready now: records applied while running that are
        under a key id the configuration lacks (their endpoints keep the last version this
        replica could read)."""
        return _missing(self.table) if self.table.missing_keys else None


def store_properties(config: RoutesFile) -> dict[str, Any]:
    """librdkafka properties for the store's clients: the routes file's cluster."""
    kafka = config.kafka
    return {"bootstrap.servers": kafka.bootstrap_servers, **kafka.properties}


def _missing(table: EndpointTable) -> str:
    named = ", ".join(f"{kid!r} ({n} records)" for kid, n in sorted(table.missing_keys.items()))
    return (
        f"endpoint store records are encrypted under key ids missing from "
        f"endpoint_store.encryption_keys: {named}; add those keys (the first one still "
        f"encrypts) and start again"
    )


def open_store(
    config: RoutesFile,
    *,
    follow: bool = True,
    create: bool = True,
    timeout: float = LOAD_TIMEOUT,
    missing_keys_ok: bool = False,
    status: bool = False,
) -> EndpointStore:
    """Read the store named by ``config.endpoint_store`` to its end; ``follow``: then keep
    applying new records on a thread; ``create``: make the topic when it is missing;
    ``missing_keys_ok``: return a store with records under missing key ids too (the
    operator's ``endpoints`` commands: ``check`` reports them, the others refuse only the
    endpoints they cannot read; never a process that delivers); ``status``: keep the
    endpoints' health and write it (a bridge: needs ``follow``).
    Raises ``StoreTopicError``, ``StoreUnavailableError``, :class:`StoreKeyError`, or a
    ``ValueError`` for a malformed key spec."""
    settings = config.endpoint_store
    if settings is None:
        raise ValueError("the routes file has no endpoint_store section")
    keyring = Keyring.parse(settings.encryption_keys.get_secret_value())
    props = store_properties(config)
    if create:
        ensure_store_topic(props, settings.topic, TOPIC_TIMEOUT)
    else:
        check_store_topic(props, settings.topic, TOPIC_TIMEOUT)
    table = EndpointTable(keyring)
    health = _health(table, settings) if status and follow else None
    store_log = StoreLog(props, settings.topic, table.apply, name="endpoints")
    writer = None
    runner = None
    try:
        with collector_paused():  # the records make no cycles (app/gctune.py)
            loaded = store_log.load(timeout)
        if table.missing_keys and not missing_keys_ok:
            raise StoreKeyError(_missing(table))
        if follow:
            store_log.follow()
        if health is not None:
            if settings.events_topic:
                ensure_topics(producer_properties(config.kafka), [settings.events_topic])
            writer = StatusWriter(health, store_log, settings.events_topic)
            writer.start()
            runner = RecoverRunner(config, table, store_log)
            runner.start()
    except BaseException:
        if writer is not None:
            writer.close()
        store_log.close()
        raise
    log.info(
        "endpoint store loaded",
        extra={
            "topic": settings.topic,
            "endpoints": len(table),
            "records": loaded.records,  # superseded versions included: nothing compacts here
            "seconds": round(loaded.seconds, 3),
        },
    )
    return EndpointStore(
        table, store_log, loaded, keyring, settings.max_endpoints_per_tenant, health, writer,
        runner,
    )  # fmt: skip


def _health(table: EndpointTable, settings: EndpointStoreConfig) -> EndpointHealth:
    """The replica's endpoint health, listening to ``table``; its writer id names this
    process (host, pid and a random part: a restarted process is another writer)."""
    writer_id = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    health = EndpointHealth(
        table,
        writer_id=writer_id,
        period=settings.auto_disable_after,
        interval=settings.status_write_interval,
    )
    table.listener = health
    return health


def needs_store(config: RoutesFile) -> bool:
    """Whether a route delivers to customer endpoints (``endpoints:``)."""
    return any(r.endpoints is not None for r in config.routes if r.active)


class EndpointDirectories:
    """The process's endpoint directory, when a route has ``endpoints:``: the store, read to
    its end and followed."""

    def __init__(
        self, config: RoutesFile, settings: Settings, *, follow: bool = True, status: bool = False
    ) -> None:
        self._config, self._settings, self._follow = config, settings, follow
        self._status = status and follow  # a bridge: keep the endpoints' health (auto-disable)
        self.store: EndpointStore | None = None

    def open(self) -> EndpointDirectory | None:
        if not needs_store(self._config):
            return None
        self.store = open_store(self._config, follow=self._follow, status=self._status)
        return self.store.table

    @property
    def health(self) -> EndpointHealth | None:
        """What the deliverers tell every customer endpoint's answer (auto-disable)."""
        return self.store.health if self.store is not None else None

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
