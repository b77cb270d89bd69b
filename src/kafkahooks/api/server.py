"""``kafkahooks api``: read the store to its end, then serve the API with uvicorn.

Steps (uvicorn's shape: config → server; a bounded graceful stop on SIGTERM/SIGINT):
check the routes file has ``api`` and ``endpoint_store`` sections and a delivery-log
topic; load the store (the time it took is printed and logged) and follow it; create the
audit topic if it is missing and open its producer; build the event-type catalogue; serve
until told to stop; close the store and flush the audit trail.
Invariant: nothing is kept on local disk; a replica is rebuilt from the store at start.
Measured (``bench/api.py``, 2 shared cores): with 100,000 endpoints a replica is ready in
23 s and holds 235 MB; get p99 8 ms, list p99 12 ms, create p99 67 ms (acked + applied).
"""

from __future__ import annotations

import logging
import sys

from kafkahooks.config import RoutesFile

__all__ = ["ApiStartError", "run_api"]

log = logging.getLogger("kafkahooks.api")

LOAD_TIMEOUT = 120.0


class ApiStartError(Exception):
    """The API cannot start with this configuration (the message says why)."""


def _check(config: RoutesFile) -> None:
    if config.api is None:
        raise ApiStartError("no api section (listen, admin_tokens, audit_topic): add one")
    if config.endpoint_store is None:
        raise ApiStartError("no endpoint_store section: the API manages the endpoint store")
    if config.kafka.delivery_log_topic is None:
        raise ApiStartError(
            "kafka.delivery_log_topic is not set: the API reads delivery attempts from it"
        )


def run_api(config: RoutesFile, allow_local: bool, *, listen: str | None = None) -> int:
    """Serve until stopped; the exit status."""
    import uvicorn

    from kafkahooks.api.app import create_app
    from kafkahooks.api.audit import KafkaAudit
    from kafkahooks.api.catalogue import build_catalogue
    from kafkahooks.api.context import ApiContext
    from kafkahooks.api.state import open_api_store
    from kafkahooks.api.tokens import TokenTable
    from kafkahooks.delivery import SystemResolver
    from kafkahooks.kafka import ensure_topics, producer_properties

    _check(config)
    assert config.api is not None
    tokens = TokenTable(config.api.admin_tokens)
    store = open_api_store(config, tokens, LOAD_TIMEOUT)
    problem = store.problem()
    if problem is not None:  # its endpoints keep the last version this replica can read
        log.error("api replica not healthy", extra={"problem": problem})
    print(f"store loaded in {store.load_seconds:.2f} s: {len(store.tables.endpoints):,} "
          f"endpoints, offset {store.applied}", file=sys.stderr, flush=True)  # fmt: skip
    ensure_topics(producer_properties(config.kafka), [config.api.audit_topic])  # logs a failure
    audit = KafkaAudit(producer_properties(config.kafka), config.api.audit_topic)
    try:
        ctx = ApiContext(
            config.api, config, store, audit, SystemResolver(),
            allow_local=allow_local, catalogue=build_catalogue(config),
        )  # fmt: skip
        host, port = config.api.host, config.api.port
        if listen is not None:
            host, _, port_text = listen.rpartition(":")
            port = int(port_text)
        server = uvicorn.Server(
            uvicorn.Config(create_app(ctx), host=host.strip("[]"), port=port,
                           log_config=None, access_log=False, timeout_graceful_shutdown=10)
        )  # fmt: skip
        server.run()
    finally:
        store.close()
        audit.close()
    return 0
