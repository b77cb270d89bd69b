"""Write customer endpoints into a real store topic, with the library alone (no CLI).

A test plays the operator's writer: it builds an :class:`Endpoint` with the store's own
functions (``create_endpoint``, ``update_endpoint``, ``rotate_secret``) and writes its
record with :meth:`StoreLog.write` (idempotent producer, ``acks=all``), naming as
``revision`` the offset of the version it replaces (-1 for a create); a delete is a
tombstone.  Every write returns the version as the store now holds it (``offset`` set
to the record's acknowledged offset), so the next write can name it.

Invariant: nothing here reads the store back or decides a conflict: the bridges and an
:class:`EndpointTable` do, as they would for the CLI's writes.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from kafkahooks.endpoints import (
    Endpoint,
    EndpointSpec,
    EndpointTable,
    Keyring,
    create_endpoint,
    encode_endpoint,
    rotate_secret,
    update_endpoint,
)
from kafkahooks.kafka import StoreLog, ensure_store_topic
from tests.support.kafka import GROUP_TIMINGS

__all__ = ["StoreWriter", "new_endpoint", "read_table", "tenant_config"]

WRITE_TIMEOUT = 15.0


def _ignore(_key: str, _value: bytes | None, _offset: int) -> None:
    """A writer applies nothing: whoever reads the store decides."""


class StoreWriter:
    """One writer (one idempotent producer) on the store topic ``topic``."""

    def __init__(self, bootstrap: str, topic: str, keys: str) -> None:
        self.bootstrap, self.topic, self.keys = bootstrap, topic, keys  # keys: a test's own
        self.keyring = Keyring.parse(keys)
        ensure_store_topic({"bootstrap.servers": bootstrap}, topic, WRITE_TIMEOUT)
        self.log = StoreLog({"bootstrap.servers": bootstrap}, topic, _ignore, name="test-writer")

    def write(self, ep: Endpoint, revision: int, *, now: float | None = None) -> Endpoint:
        """Write ``ep`` replacing the record at offset ``revision``: the version written."""
        record = encode_endpoint(ep, self.keyring, revision, time.time() if now is None else now)
        return replace(ep, offset=self.log.write(ep.id, record, WRITE_TIMEOUT))

    def raw(self, key: str, value: bytes | None) -> int:
        """Write any bytes under ``key`` (a corrupt record, a foreign writer's); the offset."""
        return self.log.write(key, value, WRITE_TIMEOUT)

    def create(self, tenant: str, url: str, *, secret: str | None = None, **spec: Any) -> Endpoint:
        """A new endpoint of ``tenant`` (other fields: :class:`EndpointSpec`'s), written."""
        return self.write(new_endpoint(tenant, url, secret=secret, **spec), -1)

    def update(self, ep: Endpoint, **changes: Any) -> Endpoint:
        """``ep`` with ``changes`` merged (as ``endpoints update`` does), written over it."""
        changed = update_endpoint(ep, changes, time.time(), allow_local=True)
        return self.write(changed, ep.offset)

    def rotate(self, ep: Endpoint, previous_valid_for: float = 86400.0) -> tuple[Endpoint, str]:
        """``ep`` with a new current secret (the previous one valid ``previous_valid_for``
        seconds more), written over it; and the new secret."""
        rotated, secret = rotate_secret(ep, time.time(), previous_valid_for=previous_valid_for)
        return self.write(rotated, ep.offset), secret

    def delete(self, ep: Endpoint) -> int:
        """Tombstone ``ep``'s key; the tombstone's offset."""
        return self.raw(ep.id, None)

    def close(self) -> None:
        self.log.close()


def new_endpoint(tenant: str, url: str, *, secret: str | None = None, **spec: Any) -> Endpoint:
    """A new endpoint of ``tenant``, not written (loopback URLs allowed, as in tests)."""
    parsed = EndpointSpec.parse({"url": url, **spec}, allow_local=True)
    return create_endpoint(parsed, tenant, secret=secret, now=time.time())


def read_table(bootstrap: str, topic: str, keys: str, timeout: float = 30.0) -> EndpointTable:
    """A fresh replica's view: every record of the store applied in order, to a marker."""
    table = EndpointTable(Keyring.parse(keys))
    with StoreLog({"bootstrap.servers": bootstrap}, topic, table.apply, name="test-reader") as log:
        log.load(timeout)
    return table


def tenant_config(
    path: Path,
    bootstrap: str,
    group: str,
    topic: str,
    store: StoreWriter,
    endpoints: dict[str, Any] | None = None,
    route: dict[str, Any] | None = None,
    **top: Any,
) -> Path:
    """A routes file with one route ``calls`` delivering ``topic``'s events to the endpoints
    of tenant ``value.account`` in ``store`` (Standard Webhooks signing); ``endpoints`` and
    ``route`` add to that route's ``endpoints:`` and to the route, ``top`` to the file."""
    doc: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": group,
            "properties": dict(GROUP_TIMINGS),
        },
        "endpoint_store": {"topic": store.topic, "encryption_keys": store.keys},
        "routes": [
            {
                "name": "calls",
                "topics": [topic],
                "event_type": "value.event",
                "template": {"id": "{{ value.id }}", "account": "{{ value.account }}"},
                "signing": {"scheme": "standard-webhooks"},
                "endpoints": {"tenant": "value.account", "timeout": 5, **(endpoints or {})},
                **(route or {}),
            }
        ],
        **top,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
