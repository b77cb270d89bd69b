"""Open the endpoint store of a routes file: its keyring, its topic, a table loaded from it.

Job: the one way a process (the bridge, an ``endpoints`` command) turns the routes file's
``endpoint_store`` section into a :class:`~kafkahooks.kafka.StoreLog` whose records are
applied to an :class:`~kafkahooks.endpoints.EndpointTable`.

Invariants: the encryption keys are read from their ``SecretStr`` here only, into the
keyring, and never reach a message (a malformed spec is named by position, never shown);
the store's Kafka client uses the routes file's ``kafka`` section (bootstrap servers and
security properties), as every other client of the process does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kafkahooks.app.settings import Settings
    from kafkahooks.config import EndpointStoreConfig, RoutesFile
    from kafkahooks.endpoints import EndpointTable, Keyring
    from kafkahooks.kafka import StoreLog

__all__ = [
    "STORE_TIMEOUT",
    "keyring_of",
    "open_store",
    "store_of",
    "store_properties",
    "store_section",
]

# how long loading the store (write a marker, read up to it) may take before a command
# or a replica gives up: 100,000 endpoints load in about 4 s here (docs/endpoints.md)
STORE_TIMEOUT = 60.0


def store_section(config: RoutesFile) -> EndpointStoreConfig:
    """The ``endpoint_store`` section; ``ValueError`` when the file has none."""
    if config.endpoint_store is None:
        raise ValueError(
            "the routes file has no endpoint_store section (topic, encryption_keys): "
            "customer endpoints need one"
        )
    return config.endpoint_store


def keyring_of(config: RoutesFile) -> Keyring:
    """The store's keyring (the first key encrypts); ``ValueError`` naming what is wrong
    with the key spec, never a key."""
    from kafkahooks.endpoints import Keyring

    return Keyring.parse(store_section(config).encryption_keys.get_secret_value())


def store_properties(config: RoutesFile) -> dict[str, Any]:
    """librdkafka properties for the store's clients: the routes file's cluster."""
    return {"bootstrap.servers": config.kafka.bootstrap_servers, **config.kafka.properties}


def store_of(
    config: RoutesFile, settings: Settings | None = None, *, name: str = "store"
) -> tuple[StoreLog, EndpointTable]:
    """The store's log and a table it applies to, not loaded yet (call ``load``).
    ``settings`` is accepted for the callers' symmetry; nothing in it changes the store."""
    from kafkahooks.endpoints import EndpointTable
    from kafkahooks.kafka import StoreLog

    section = store_section(config)
    table = EndpointTable(keyring_of(config))
    log = StoreLog(store_properties(config), section.topic, table.apply, name=name)
    return log, table


def open_store(
    config: RoutesFile,
    settings: Settings | None = None,
    *,
    create: bool = False,
    timeout: float = STORE_TIMEOUT,
    name: str = "store",
) -> tuple[StoreLog, EndpointTable]:
    """The store loaded up to now (its topic created first when ``create``).  Raises
    ``ValueError`` (no section, bad key spec), ``StoreTopicError`` (missing or misshapen
    topic) or ``StoreUnavailableError``; the log is closed when loading fails."""
    from kafkahooks.kafka import ensure_store_topic

    log, table = store_of(config, settings, name=name)
    try:
        if create:
            ensure_store_topic(store_properties(config), log.topic, timeout)
        log.load(timeout)
    except BaseException:
        log.close()
        raise
    return log, table
