"""EndpointTable: the revision rule, tombstones, bad records, missing keys, the tenant index."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace

import orjson
import pytest

from kafkahooks.endpoints import (
    Endpoint,
    EndpointSpec,
    EndpointTable,
    Keyring,
    create_endpoint,
    encode_endpoint,
    generate_key_spec,
    update_endpoint,
)
from kafkahooks.telemetry import METRICS

Log = list[tuple[str, bytes | None]]  # the store: (key, value) at offset = index


def _replay(log: Log, keyring: Keyring) -> EndpointTable:
    table = EndpointTable(keyring)
    for offset, (key, value) in enumerate(log):
        table.apply(key, value, offset)
    return table


def _rejected(reason: str) -> float:
    found = METRICS.registry.get_sample_value("kafkahooks_store_rejected_total", {"reason": reason})
    return found or 0.0


def _write(log: Log, ep: Endpoint, keyring: Keyring, revision: int, now: float) -> int:
    log.append((ep.id, encode_endpoint(ep, keyring, revision, now)))
    return len(log) - 1


def test_a_create_applies_and_is_indexed_by_tenant(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    table = EndpointTable(keyring)
    assert table.apply(endpoint.id, encode_endpoint(endpoint, keyring, -1, now), 0)
    assert table.get(endpoint.id) == replace(endpoint, offset=0)
    assert table.for_tenant("tenant-1") == (table.get(endpoint.id),)
    assert table.for_tenant("tenant-2") == ()
    assert (len(table), table.count_for("tenant-1"), table.offset_of(endpoint.id)) == (1, 1, 0)
    assert table.offset_of("ep_ABSENT") == -1
    assert list(table.endpoints()) == [table.get(endpoint.id)]


def test_two_updates_to_one_revision_exactly_the_first_applies(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    log: Log = []
    base = _write(log, endpoint, keyring, -1, now)
    one = update_endpoint(endpoint, {"description": "writer one"}, now + 1)
    two = update_endpoint(endpoint, {"description": "writer two"}, now + 1)
    won = _write(log, one, keyring, base, now)
    lost = _write(log, two, keyring, base, now)  # read the same version: a conflict
    table = _replay(log, keyring)
    held = table.get(endpoint.id)
    assert held is not None and held.description == "writer one"
    assert table.offset_of(endpoint.id) == won != lost
    assert table.conflicts_ignored == 1
    # the next write must name the winner's offset; naming the loser's is ignored too
    stale = _write(
        log, update_endpoint(two, {"description": "on the loser"}, now), keyring, lost, now
    )
    good = _write(log, update_endpoint(one, {"description": "three"}, now), keyring, won, now)
    again = _replay(log, keyring)
    held = again.get(endpoint.id)
    assert held is not None and held.description == "three" and held.offset == good != stale


def test_every_replica_decides_the_same_whatever_it_has_read_before(
    make_spec: Callable[..., EndpointSpec], keyring: Keyring, now: float
) -> None:
    """Replicas that start at different times (replay vs. follow) hold the same versions."""
    log: Log = []
    a = create_endpoint(make_spec(), "t1", now=now)
    b = create_endpoint(make_spec(), "t1", now=now)
    offsets = {a.id: _write(log, a, keyring, -1, now), b.id: _write(log, b, keyring, -1, now)}
    for i, (ep, stale) in enumerate(itertools.product((a, b), (False, True))):
        changed = update_endpoint(ep, {"description": f"v{i}"}, now)
        revision = offsets[ep.id] - 1 if stale else offsets[ep.id]
        at = _write(log, changed, keyring, revision, now)
        if not stale:
            offsets[ep.id] = at
    follower = EndpointTable(keyring)
    for offset, (key, value) in enumerate(log):
        follower.apply(key, value, offset)
        assert follower.offset_of(key) == _replay(log[: offset + 1], keyring).offset_of(key)
    late = _replay(log, keyring)
    assert {e.id: e for e in follower.endpoints()} == {e.id: e for e in late.endpoints()}
    assert follower.conflicts_ignored == late.conflicts_ignored == 2


def test_a_tombstone_deletes_and_a_stale_update_after_it_is_ignored(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    log: Log = []
    base = _write(log, endpoint, keyring, -1, now)
    log.append((endpoint.id, None))
    _write(log, update_endpoint(endpoint, {"description": "late"}, now), keyring, base, now)
    table = _replay(log, keyring)
    assert table.get(endpoint.id) is None
    assert table.for_tenant("tenant-1") == () and table.count_for("tenant-1") == 0
    assert table.offset_of(endpoint.id) == -1
    assert table.conflicts_ignored == 1
    assert table.records_read == 3


def test_a_tombstone_for_an_unknown_key_changes_nothing(keyring: Keyring) -> None:
    table = EndpointTable(keyring)
    assert not table.apply("ep_NEVER", None, 0)
    assert table.records_read == 1


def test_other_kinds_of_record_are_ignored_but_read(keyring: Keyring) -> None:
    table = EndpointTable(keyring)
    assert not table.apply("health/ep_X", b'{"failing_since": 1}', 0)
    assert not table.apply("kafkahooks-marker", b"", 1)
    assert len(table) == 0 and table.records_read == 2


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "json"),
        (b'{"kind": "endpoint", "version": "2.0"}', "version"),
        (b'{"kind": "endpoint", "version": "1.0"}', "schema"),
    ],
)
def test_a_corrupt_record_keeps_the_previous_version_and_is_counted(
    endpoint: Endpoint, keyring: Keyring, now: float, value: bytes, reason: str
) -> None:
    before = _rejected(reason)
    log: Log = []
    base = _write(log, endpoint, keyring, -1, now)
    log.append((endpoint.id, value))
    table = _replay(log, keyring)
    held = table.get(endpoint.id)
    assert held is not None and held.offset == base and held.url == endpoint.url
    assert table.rejected == {reason: 1}
    assert _rejected(reason) == before + 1
    # a writer that read the good version still replaces it
    _write(log, update_endpoint(endpoint, {"description": "fixed"}, now), keyring, base, now)
    fixed = _replay(log, keyring).get(endpoint.id)
    assert fixed is not None and fixed.description == "fixed"


def test_a_tampered_ciphertext_keeps_the_previous_version(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    log: Log = []
    base = _write(log, endpoint, keyring, -1, now)
    record = orjson.loads(encode_endpoint(update_endpoint(endpoint, {}, now), keyring, base, now))
    record["target"]["ct"] = record["secrets"][0]["value"]["ct"]
    log.append((endpoint.id, orjson.dumps(record)))
    table = _replay(log, keyring)
    held = table.get(endpoint.id)
    assert held is not None and held.offset == base
    assert table.rejected == {"decrypt": 1}


def test_a_record_moving_to_another_tenant_is_refused(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    log: Log = []
    base = _write(log, endpoint, keyring, -1, now)
    _write(log, replace(endpoint, tenant="tenant-2"), keyring, base, now)
    table = _replay(log, keyring)
    assert table.for_tenant("tenant-2") == ()
    assert [e.offset for e in table.for_tenant("tenant-1")] == [base]
    assert table.rejected == {"tenant-change": 1}


def test_key_rotation_first_key_encrypts_old_still_decrypts_missing_is_counted(
    make_spec: Callable[..., EndpointSpec], now: float
) -> None:
    old_spec, new_spec = generate_key_spec("old"), generate_key_spec("new")
    old_only = Keyring.parse(old_spec)
    both = Keyring.parse(f"{new_spec},{old_spec}")
    log: Log = []
    a = create_endpoint(make_spec(), "t1", now=now)
    b = create_endpoint(make_spec(), "t1", now=now)
    at_a = _write(log, a, old_only, -1, now)
    _write(log, b, old_only, -1, now)
    table = _replay(log, both)  # the old key still decrypts
    assert len(table) == 2 and table.records_by_key == {"old": 2}
    assert table.keys_of(a.id) == ("old",)
    assert set(table.ids_to_reencrypt()) == {a.id, b.id}
    _write(log, update_endpoint(a, {}, now), both, at_a, now)  # reencrypt: under the first key
    table = _replay(log, both)
    assert table.records_by_key == {"old": 1, "new": 1}
    assert table.keys_of(a.id) == ("new",)
    assert table.ids_to_reencrypt() == (b.id,)
    assert METRICS.registry.get_sample_value("kafkahooks_store_records_by_key", {"kid": "new"}) == 1
    # a replica without the old key names it and how many records use it
    new_only = _replay(log, Keyring.parse(new_spec))
    assert new_only.missing_keys == {"old": 1}
    assert new_only.get(b.id) is None and new_only.get(a.id) is not None
    assert new_only.records_by_key == {"old": 1, "new": 1}
    assert new_only.ids_to_reencrypt() == ()  # b cannot be read here, so not rewritten


def test_a_record_under_a_missing_key_keeps_the_previous_version_and_holds_its_offset(
    endpoint: Endpoint, now: float
) -> None:
    """A replica lacking a key decides revisions as one holding it: the next writer's
    record (naming the unreadable record's offset) applies everywhere."""
    old_spec, new_spec = generate_key_spec("old"), generate_key_spec("new")
    old, both = Keyring.parse(old_spec), Keyring.parse(f"{new_spec},{old_spec}")
    log: Log = []
    base = _write(log, endpoint, old, -1, now)
    under_new = _write(log, update_endpoint(endpoint, {"description": "n"}, now), both, base, now)
    lacking = _replay(log, old)
    held = lacking.get(endpoint.id)
    assert held is not None and held.offset == base  # the last version it can read
    assert lacking.offset_of(endpoint.id) == under_new
    assert lacking.missing_keys == {"new": 1}
    log.append((endpoint.id, None))
    assert _replay(log, old).missing_keys == {}


def test_a_tenants_tuple_is_replaced_never_mutated(
    make_spec: Callable[..., EndpointSpec], keyring: Keyring, now: float
) -> None:
    table = EndpointTable(keyring)
    a = create_endpoint(make_spec(), "t1", now=now)
    b = create_endpoint(make_spec(), "t1", now=now)
    table.apply(a.id, encode_endpoint(a, keyring, -1, now), 0)
    seen = table.for_tenant("t1")
    table.apply(b.id, encode_endpoint(b, keyring, -1, now), 1)
    table.apply(a.id, encode_endpoint(set_description(a, "x", now), keyring, 0, now), 2)
    assert [e.id for e in seen] == [a.id]  # what a reader held is unchanged
    assert [(e.id, e.offset) for e in table.for_tenant("t1")] == [(a.id, 2), (b.id, 1)]
    table.apply(a.id, None, 3)
    table.apply(b.id, None, 4)
    assert table.for_tenant("t1") == () and "t1" not in table._by_tenant


def set_description(ep: Endpoint, text: str, now: float) -> Endpoint:
    return update_endpoint(ep, {"description": text}, now)


def test_readers_on_other_threads_never_fail_while_records_are_applied(
    make_spec: Callable[..., EndpointSpec], keyring: Keyring, now: float
) -> None:
    import threading

    eps = [create_endpoint(make_spec(), f"t{i % 5}", now=now) for i in range(300)]
    log: Log = [(ep.id, encode_endpoint(ep, keyring, -1, now)) for ep in eps]
    log += [(ep.id, None) for ep in eps[::2]]
    table = EndpointTable(keyring)
    done = threading.Event()
    failures: list[BaseException] = []

    def read() -> None:
        try:
            while not done.is_set():
                for tenant in ("t0", "t1", "t2", "t3", "t4"):
                    for ep in table.for_tenant(tenant):
                        assert ep.tenant == tenant
                        table.get(ep.id)
                list(table.endpoints())
                table.records_by_key, table.missing_keys, table.ids_to_reencrypt()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for offset, (key, value) in enumerate(log):
        table.apply(key, value, offset)
    done.set()
    reader.join()
    assert failures == []
    assert len(table) == 150 and sum(table.count_for(f"t{i}") for i in range(5)) == 150
