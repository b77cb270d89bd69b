"""An endpoint directory held in memory: a fixed list of endpoints, indexed by tenant.

For tests and for a bridge started with ``KAFKAHOOKS_TEST_ENDPOINTS_FILE`` (a JSON
list of endpoints: a test-only way to run a bridge with customer endpoints before
the store is wired).  Invariant: like the store's directory, a tenant's endpoints
are replaced as a whole tuple (``put``/``delete``), never mutated, so readers on
any thread see one version or the next.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from kafkahooks.config import Predicate
from kafkahooks.endpoints.endpoint import Endpoint, SigningSecret

__all__ = ["MemoryDirectory", "endpoint_from_json", "load_endpoints_file"]


class MemoryDirectory:
    """An :class:`~kafkahooks.endpoints.EndpointDirectory` over a list of endpoints."""

    def __init__(self, endpoints: Iterable[Endpoint] = ()) -> None:
        self._by_id: dict[str, Endpoint] = {}
        self._by_tenant: dict[str, tuple[Endpoint, ...]] = {}
        for endpoint in endpoints:
            self.put(endpoint)

    def for_tenant(self, tenant: str) -> Sequence[Endpoint]:
        return self._by_tenant.get(tenant, ())

    def get(self, endpoint_id: str) -> Endpoint | None:
        return self._by_id.get(endpoint_id)

    def put(self, endpoint: Endpoint) -> None:
        """Add an endpoint, or replace the version held (its tenant never changes)."""
        if endpoint.id in self._by_id:
            self.delete(endpoint.id)
        self._by_id[endpoint.id] = endpoint
        self._by_tenant[endpoint.tenant] = (*self._by_tenant.get(endpoint.tenant, ()), endpoint)

    def delete(self, endpoint_id: str) -> None:
        old = self._by_id.pop(endpoint_id, None)
        if old is not None:
            kept = tuple(e for e in self._by_tenant.get(old.tenant, ()) if e.id != endpoint_id)
            self._by_tenant[old.tenant] = kept


def endpoint_from_json(data: Mapping[str, Any]) -> Endpoint:
    """One endpoint from plain JSON: ``secrets`` a list of strings (the current first) or
    of ``{"value", "expires"}``; ``filters`` predicates as in a routes file."""
    secrets = tuple(
        SigningSecret(SecretStr(s))
        if isinstance(s, str)
        else SigningSecret(SecretStr(s["value"]), s.get("expires"))
        for s in data.get("secrets", ())
    )
    routes = data.get("routes")
    return Endpoint(
        id=data["id"],
        tenant=str(data["tenant"]),
        url=data["url"],
        secrets=secrets,
        description=data.get("description", ""),
        event_types=tuple(data.get("event_types", ("*",))),
        routes=tuple(routes) if routes is not None else None,
        filters=tuple(Predicate.model_validate(p) for p in data.get("filters", ())),
        active=bool(data.get("active", True)),
        payload_version=data.get("payload_version"),
        headers=dict(data.get("headers", {})),
        secret_headers={k: SecretStr(v) for k, v in data.get("secret_headers", {}).items()},
        rate_limit=data.get("rate_limit"),
        offset=int(data.get("offset", -1)),
    )


def load_endpoints_file(path: str | Path) -> MemoryDirectory:
    """A directory of the endpoints in a JSON file (a list of endpoint objects)."""
    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a JSON list of endpoints")
    return MemoryDirectory(endpoint_from_json(e) for e in entries)
