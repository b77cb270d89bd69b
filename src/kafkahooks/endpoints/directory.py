"""What the engine reads of a replica's endpoints: the directory, and a tenant's
endpoints as one group with the answer fan-out asks of it per event.

Fan-out asks, for every event, which of its tenant's endpoints take the event's type.
When every endpoint of the tenant is plain (``Endpoint.plain``: enabled, on every route,
no predicates), the answer depends on the type alone, so it is made here once per change
of the tenant's endpoints: a dict of the types they name, each with the ids of the
endpoints taking it (the endpoints taking ``"*"`` included), and the ids of those taking
``"*"`` for any other type.  Looking at each of a tenant's five endpoints made fan-out
execute 139 bytecodes per event, the look-up 76 (``bench/tenant_path.py --opcodes``).  A
tenant with an endpoint that is not plain is asked endpoint by endpoint, as before.

Invariant: a group is made from one tuple of endpoint versions and never changes; the
ids are in the tuple's order, and a directory replaces a tenant's group as a whole, so a
reader on any thread sees one version of it or the next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final, Protocol

from kafkahooks.endpoints.endpoint import Endpoint

__all__ = ["NO_ENDPOINTS", "EndpointDirectory", "TenantGroup"]


class TenantGroup:
    """``endpoints``: the tenant's, in order.  When ``plain`` (every endpoint is), the
    ids of those taking an event type are ``by_type.get(type, any_type)``."""

    __slots__ = ("any_type", "by_type", "endpoints", "plain")

    def __init__(self, endpoints: tuple[Endpoint, ...]) -> None:
        self.endpoints = endpoints
        self.plain = all(e.plain for e in endpoints)
        self.any_type: tuple[str, ...] = ()
        self.by_type: Mapping[str, tuple[str, ...]] = _EMPTY
        if not self.plain:
            return
        # one pass, in order (the store applies a tenant's records one by one: a group is
        # made per record read at start, 100,000 of them)
        any_type: list[str] = []
        named: dict[str, list[str]] = {}
        for e in endpoints:
            if e.any_type:
                any_type.append(e.id)
                for ids in named.values():
                    ids.append(e.id)
                continue
            for t in e.event_types:
                takers = named.get(t)
                if takers is None:
                    takers = named[t] = list(any_type)
                if not takers or takers[-1] != e.id:  # a type listed twice counts once
                    takers.append(e.id)
        self.any_type = tuple(any_type)
        if named:
            self.by_type = {t: tuple(ids) for t, ids in named.items()}

    def put(self, endpoint: Endpoint) -> TenantGroup:
        """The group with ``endpoint`` in place of the version of its id held, or added."""
        held, eid = self.endpoints, endpoint.id
        if any(e.id == eid for e in held):
            return TenantGroup(tuple(endpoint if e.id == eid else e for e in held))
        return TenantGroup((*held, endpoint))

    def without(self, endpoint_id: str) -> TenantGroup:
        """The group without the endpoint of that id."""
        return TenantGroup(tuple(e for e in self.endpoints if e.id != endpoint_id))

    def __repr__(self) -> str:
        return f"TenantGroup({len(self.endpoints)} endpoints)"


_EMPTY: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({})
NO_ENDPOINTS: Final = TenantGroup(())


class EndpointDirectory(Protocol):
    """What the engine and the deliverer read: the replica's current view of the store.

    Every call is safe from any thread while one store-reader thread applies
    records: a tenant's endpoints are replaced as a whole group, never mutated."""

    def for_tenant(self, tenant: str) -> Sequence[Endpoint]: ...

    def group(self, tenant: str) -> TenantGroup:
        """The tenant's endpoints with fan-out's index (:data:`NO_ENDPOINTS`: none)."""
        ...

    def get(self, endpoint_id: str) -> Endpoint | None: ...
