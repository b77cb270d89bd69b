"""``kafkahooks api``: read the store to its end, then serve the API with uvicorn.

Steps (uvicorn's shape: config → server; a bounded graceful stop on SIGTERM/SIGINT):
check the routes file has ``api`` and ``endpoint_store`` sections and a delivery-log
topic; load the store and, at the same time on a second thread, catch up over the last
25 h of the delivery log (``api/attemptlog.py``; each load's time is printed) and follow
both; create the
audit topic if it is missing and open its producer; build the event-type catalogue; serve
until told to stop; close the store and flush the audit trail.
Invariant: nothing is kept on local disk; a replica is rebuilt from the store at start.
Measured (``bench/api.py``, 2 shared cores): with 100,000 endpoints a replica is ready in
23 s and holds 235 MB; get p99 8 ms, list p99 12 ms, create p99 67 ms (acked + applied).
"""

from __future__ import annotations

import logging
import sys
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

from kafkahooks.config import RoutesFile

if TYPE_CHECKING:
    from kafkahooks.api.attemptlog import EndpointAttempts
    from kafkahooks.api.state import KafkaApiStore
    from kafkahooks.api.tokens import TokenTable

__all__ = ["ApiStartError", "load_api", "run_api"]

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
    from kafkahooks.api.tokens import TokenTable
    from kafkahooks.delivery import SystemResolver
    from kafkahooks.kafka import ensure_topics, producer_properties

    _check(config)
    assert config.api is not None
    tokens = TokenTable(config.api.admin_tokens)
    # created when missing (a failure is logged; the loads then say what is wrong)
    topics = [config.api.audit_topic, config.kafka.delivery_log_topic]
    ensure_topics(producer_properties(config.kafka), [t for t in topics if t])
    store, attempts = load_api(config, tokens)
    audit = KafkaAudit(producer_properties(config.kafka), config.api.audit_topic)
    try:
        ctx = ApiContext(
            config.api, config, store, audit, SystemResolver(),
            allow_local=allow_local, catalogue=build_catalogue(config), attempts=attempts,
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
        attempts.close()
        store.close()
        audit.close()
    return 0


def load_api(config: RoutesFile, tokens: TokenTable) -> tuple[KafkaApiStore, EndpointAttempts]:
    """The store and the delivery log's read model, loaded at the same time (each takes
    ~20 s at the issue's sizes: one after the other would double the start-up); each
    load's time is printed.  Either failing closes the other."""
    from concurrent.futures import ThreadPoolExecutor

    from kafkahooks.api.attemptlog import open_endpoint_attempts
    from kafkahooks.api.state import open_api_store
    from kafkahooks.app import store_properties

    topic = config.kafka.delivery_log_topic
    assert topic is not None
    started = time.monotonic()
    with ThreadPoolExecutor(1, thread_name_prefix="delivery-log-load") as pool:
        loading = pool.submit(
            open_endpoint_attempts, store_properties(config), topic, timeout=LOAD_TIMEOUT
        )
        try:
            store = open_api_store(config, tokens, LOAD_TIMEOUT)
        except BaseException:
            loading.add_done_callback(lambda done: _close_quietly(done))
            raise
        _say(f"store loaded in {store.load_seconds:.2f} s: {len(store.tables.endpoints):,} "
             f"endpoints, offset {store.applied}")  # fmt: skip
        try:
            attempts = loading.result()
        except BaseException:
            store.close()
            raise
    load = attempts.load
    _say(f"delivery log read in {load.seconds:.2f} s: {load.records:,} attempt records "
         f"(last 25 h) from {load.partitions} partitions; ready {time.monotonic() - started:.2f} "
         "s after start")  # fmt: skip
    problem = store.problem()
    if problem is not None:  # its endpoints keep the last version this replica can read
        log.error("api replica not healthy", extra={"problem": problem})
    return store, attempts


def _close_quietly(done: Future[EndpointAttempts]) -> None:
    if done.exception() is None:
        done.result().close(0.5)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
