"""A tenant's group: its index by event type answers exactly what asking each endpoint
would, in the tenant's order; a group with an endpoint that is not plain has no index.
The table and the in-memory directory keep each tenant's group current."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from kafkahooks.config import Predicate
from kafkahooks.endpoints import Endpoint, MemoryDirectory
from kafkahooks.endpoints.directory import NO_ENDPOINTS, TenantGroup
from kafkahooks.endpoints.status import Disable, EndpointStatus

TYPES = ("call.ended", "call.started", "note.added")
SUBSCRIPTIONS = [("*",), ("call.ended",), ("call.started", "call.ended"), ("note.added",)]


def _ep(i: int, types: tuple[str, ...], tenant: str = "acme") -> Endpoint:
    return Endpoint(f"ep_{i}", tenant, f"https://hooks.example.com/{i}", (), event_types=types)


def _asked(endpoints: tuple[Endpoint, ...], etype: str) -> list[str]:
    return [e.id for e in endpoints if e.wants("calls", etype)]


@pytest.mark.parametrize("subscriptions", list(itertools.product(SUBSCRIPTIONS, repeat=3)), ids=str)
def test_the_index_answers_what_each_endpoint_would_in_order(
    subscriptions: tuple[tuple[str, ...], ...],
) -> None:
    endpoints = tuple(_ep(i, types) for i, types in enumerate(subscriptions))
    group = TenantGroup(endpoints)
    assert group.plain
    for etype in (*TYPES, "other.type"):
        assert list(group.by_type.get(etype, group.any_type)) == _asked(endpoints, etype)


def test_a_type_listed_twice_takes_the_event_once() -> None:
    group = TenantGroup((_ep(1, ("call.ended", "call.ended")),))
    assert group.by_type["call.ended"] == ("ep_1",)


_PLAIN = _ep(9, ("*",))


@pytest.mark.parametrize(
    "odd",
    [
        replace(_PLAIN, active=False),
        replace(_PLAIN, routes=("other-route",)),
        replace(_PLAIN, filters=(Predicate(field="value.team", equals="sales"),)),
        replace(_PLAIN, status=EndpointStatus(-1, None, Disable("gone", 0.0))),
    ],
    ids=["inactive", "some routes", "predicates", "disabled by the bridge"],
)
def test_a_group_with_an_endpoint_that_is_not_plain_has_no_index(odd: Endpoint) -> None:
    assert not TenantGroup((_ep(1, ("*",)), odd)).plain


def test_the_directory_keeps_each_tenant_group_current() -> None:
    directory = MemoryDirectory([_ep(1, ("call.ended",)), _ep(2, ("*",), tenant="other")])
    directory.put(_ep(3, ("*",)))
    assert directory.group("acme").by_type["call.ended"] == ("ep_1", "ep_3")
    directory.put(replace(_ep(1, ("call.ended",)), event_types=("note.added",)))
    assert directory.group("acme").by_type.get("call.ended", ()) == ()
    directory.delete("ep_1")
    directory.delete("ep_3")
    assert directory.group("acme").endpoints == ()
    assert directory.group("nobody") is NO_ENDPOINTS
