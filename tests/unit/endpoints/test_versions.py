"""The writer's side of the revision rule: the version in force, and whether a write won."""

from __future__ import annotations

from kafkahooks.endpoints import (
    EndpointSpec,
    EndpointTable,
    Keyring,
    create_endpoint,
    encode_endpoint,
    generate_key_spec,
    update_endpoint,
    version_in_force,
    written_in_force,
)

URL = "https://hooks.example.com/in"


def test_a_write_wins_only_when_its_record_is_in_force() -> None:
    keyring = Keyring.parse(generate_key_spec("k1"))
    table = EndpointTable(keyring)
    ep = create_endpoint(EndpointSpec.parse({"url": URL}), "acme", now=0.0)
    table.apply(ep.id, encode_endpoint(ep, keyring, -1, 0.0), 0)
    held = version_in_force(table, ep.id)
    assert held is not None and held.offset == 0
    mine = update_endpoint(held, {"description": "mine"}, 1.0)
    theirs = update_endpoint(held, {"description": "theirs"}, 1.0)
    table.apply(ep.id, encode_endpoint(theirs, keyring, 0, 1.0), 1)  # came first
    table.apply(ep.id, encode_endpoint(mine, keyring, 0, 1.0), 2)
    assert written_in_force(table, ep.id, 1) and not written_in_force(table, ep.id, 2)
    assert version_in_force(table, "ep_none") is None


def test_a_version_under_a_missing_key_is_not_in_force() -> None:
    old, new = Keyring.parse(generate_key_spec("k1")), Keyring.parse(generate_key_spec("k2"))
    table = EndpointTable(old)
    ep = create_endpoint(EndpointSpec.parse({"url": URL}), "acme", now=0.0)
    table.apply(ep.id, encode_endpoint(ep, old, -1, 0.0), 0)
    table.apply(ep.id, encode_endpoint(ep, new, 0, 1.0), 1)  # a key this replica lacks
    assert table.get(ep.id) is not None  # the last readable version still delivers
    assert version_in_force(table, ep.id) is None  # but is not the one a writer may replace
