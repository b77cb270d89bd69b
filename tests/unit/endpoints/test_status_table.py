"""EndpointTable and the bridge's status records (``health/<id>``): the revision rule per key,
effective state, a new endpoint revision voiding a disable, deletes, unknown ids."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import orjson

from kafkahooks.endpoints import (
    Disable,
    Endpoint,
    EndpointStatus,
    EndpointTable,
    Keyring,
    encode_endpoint,
    encode_status,
    set_active,
    status_json_schema,
    status_key,
)

Log = list[tuple[str, bytes | None]]


class Listener:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def status_applied(
        self, endpoint_id: str, tenant: str, old: EndpointStatus | None, new: EndpointStatus
    ) -> None:
        self.calls.append(("applied", (endpoint_id, tenant, old, new)))

    def voided(self, endpoint_id: str) -> None:
        self.calls.append(("voided", endpoint_id))

    def orphaned(self, key: str) -> None:
        self.calls.append(("orphaned", key))


class Store:
    """A store log and one replica's table applying it in offset order."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self.log: Log = []
        self.table = EndpointTable(keyring)
        self.listener = Listener()
        self.table.listener = self.listener

    def put(self, key: str, value: bytes | None) -> int:
        self.log.append((key, value))
        offset = len(self.log) - 1
        self.table.apply(key, value, offset)
        return offset

    def endpoint(self, ep: Endpoint, revision: int, now: float) -> Endpoint:
        offset = self.put(ep.id, encode_endpoint(ep, self.keyring, revision, now))
        return replace(ep, offset=offset)

    def status(self, ep_id: str, status: EndpointStatus, revision: int) -> int:
        return self.put(status_key(ep_id), encode_status(ep_id, status, revision, 0.0))


GONE = Disable("gone", 10.0, "HTTP 410 Gone")


def test_a_disable_about_the_current_revision_disables_the_endpoint(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    store = Store(keyring)
    ep = store.endpoint(endpoint, -1, now)
    assert store.table.get(ep.id).enabled  # type: ignore[union-attr]
    at = store.status(ep.id, EndpointStatus(ep.offset, 5.0, GONE, "replica-a"), -1)
    held = store.table.get(ep.id)
    assert held is not None and held.active and not held.enabled
    assert not held.wants("any-route", "call.completed")  # later events do not match it
    assert held.status == EndpointStatus(ep.offset, 5.0, GONE, "replica-a", offset=at)
    assert store.table.for_tenant(ep.tenant) == (held,)
    assert store.table.offset_of(status_key(ep.id)) == at


def test_status_writes_follow_the_revision_rule(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    store = Store(keyring)
    ep = store.endpoint(endpoint, -1, now)
    first = store.status(ep.id, EndpointStatus(ep.offset, 1.0, None, "a"), -1)
    store.status(ep.id, EndpointStatus(ep.offset, 2.0, None, "b"), -1)  # lost the race
    assert store.table.status_of(ep.id) == EndpointStatus(ep.offset, 1.0, None, "a", first)
    assert store.table.conflicts_ignored == 1
    second = store.status(ep.id, EndpointStatus(ep.offset, None, None, "b"), first)
    assert store.table.status_of(ep.id) == EndpointStatus(ep.offset, None, None, "b", second)
    # a fresh replica reading the same log decides the same
    replica = EndpointTable(keyring)
    for offset, (key, value) in enumerate(store.log):
        replica.apply(key, value, offset)
    assert replica.status_of(ep.id) == store.table.status_of(ep.id)


def test_a_new_endpoint_revision_voids_the_bridge_disable(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    store = Store(keyring)
    ep = store.endpoint(endpoint, -1, now)
    at = store.status(ep.id, EndpointStatus(ep.offset, 5.0, GONE, "a"), -1)
    # the tenant re-enables: active was true all along, a new revision is written
    again = store.endpoint(set_active(ep, True, now + 1), ep.offset, now + 1)
    held = store.table.get(ep.id)
    assert held is not None and held.enabled and held.status is None
    assert store.table.offset_of(status_key(ep.id)) == at  # the next status write names it
    assert ("voided", ep.id) in store.listener.calls
    # a status about the new revision is attached again
    store.status(ep.id, EndpointStatus(again.offset, 20.0, None, "a"), at)
    held = store.table.get(ep.id)
    assert held is not None and held.enabled and held.status is not None
    assert held.status.failing_since == 20.0


def test_the_tenants_own_disable_stays_whatever_the_status(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    store = Store(keyring)
    ep = store.endpoint(set_active(endpoint, False, now), -1, now)
    held = store.table.get(ep.id)
    assert held is not None and not held.enabled


def test_a_delete_drops_the_status_and_lists_it_until_tombstoned(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    store = Store(keyring)
    ep = store.endpoint(endpoint, -1, now)
    store.status(ep.id, EndpointStatus(ep.offset, 5.0, None, "a"), -1)
    store.put(ep.id, None)
    key = status_key(ep.id)
    assert store.table.get(ep.id) is None and store.table.status_of(ep.id) is None
    assert store.table.orphans() == (key,) and ("orphaned", key) in store.listener.calls
    assert store.table.offset_of(key) == -1
    store.put(key, None)  # the deleting writer's second tombstone
    assert store.table.orphans() == ()


def test_a_status_of_an_unknown_id_is_ignored(keyring: Keyring) -> None:
    store = Store(keyring)
    key = status_key("ep_01JE3M8Q7RZ4V6N2K9XWB5CTHF")
    store.put(key, encode_status(key[7:], EndpointStatus(3, 1.0, GONE, "a"), -1, 0.0))
    assert store.table.status_of(key[7:]) is None and store.table.offset_of(key) == -1
    assert store.table.is_orphan(key) and store.listener.calls == [("orphaned", key)]
    store.put(key, None)
    assert not store.table.is_orphan(key)


def test_a_bad_status_record_is_refused_and_the_last_good_one_stays(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    store = Store(keyring)
    ep = store.endpoint(endpoint, -1, now)
    at = store.status(ep.id, EndpointStatus(ep.offset, 5.0, None, "a"), -1)
    key = status_key(ep.id)
    store.put(key, b"{not json")
    store.put(key, orjson.dumps({"kind": "health", "version": "1.0", "id": ep.id}))
    store.put(key, encode_status("ep_OTHER", EndpointStatus(ep.offset), at, 0.0))
    assert store.table.rejected["json"] == 1
    assert store.table.rejected["schema"] == 1
    assert store.table.rejected["key-mismatch"] == 1
    assert store.table.offset_of(key) == at


def test_the_published_status_schema_is_the_one_the_code_reads(endpoint: Endpoint) -> None:
    schema_file = Path(__file__).resolve().parents[3] / "schemas" / "endpoint-health.schema.json"
    assert json.loads(schema_file.read_text(encoding="utf-8")) == status_json_schema(), (
        "schemas/endpoint-health.schema.json is stale; regenerate it with: python -c "
        '"import json; from kafkahooks.endpoints import status_json_schema; '
        'print(json.dumps(status_json_schema(), indent=2))" > schemas/endpoint-health.schema.json'
    )
    written = orjson.loads(encode_status(endpoint.id, EndpointStatus(3, 1.0, GONE, "a"), -1, 2.0))
    assert set(written) == set(status_json_schema()["properties"])
