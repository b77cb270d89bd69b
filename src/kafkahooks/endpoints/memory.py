"""An endpoint directory held in memory: a fixed list of endpoints, indexed by tenant.

For unit tests, and for commands that need a directory but no store (``render``:
a placeholder endpoint).  Invariant: like the store's directory, a tenant's endpoints
are replaced as a whole group (``put``/``delete``), never mutated, so readers on
any thread see one version or the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kafkahooks.endpoints.directory import NO_ENDPOINTS, TenantGroup
from kafkahooks.endpoints.endpoint import Endpoint

__all__ = ["MemoryDirectory"]


class MemoryDirectory:
    """An :class:`~kafkahooks.endpoints.EndpointDirectory` over a list of endpoints."""

    def __init__(self, endpoints: Iterable[Endpoint] = ()) -> None:
        self._by_id: dict[str, Endpoint] = {}
        self._by_tenant: dict[str, TenantGroup] = {}
        for endpoint in endpoints:
            self.put(endpoint)

    def for_tenant(self, tenant: str) -> Sequence[Endpoint]:
        return self.group(tenant).endpoints

    def group(self, tenant: str) -> TenantGroup:
        return self._by_tenant.get(tenant, NO_ENDPOINTS)

    def get(self, endpoint_id: str) -> Endpoint | None:
        return self._by_id.get(endpoint_id)

    def put(self, endpoint: Endpoint) -> None:
        """Add an endpoint, or replace the version held (its tenant never changes)."""
        self._by_id[endpoint.id] = endpoint
        self._by_tenant[endpoint.tenant] = self.group(endpoint.tenant).put(endpoint)

    def delete(self, endpoint_id: str) -> None:
        old = self._by_id.pop(endpoint_id, None)
        if old is not None:
            self._by_tenant[old.tenant] = self.group(old.tenant).without(endpoint_id)
