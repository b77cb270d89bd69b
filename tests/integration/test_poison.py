"""Poison records: each goes to a dead-letter topic with its reason and the stream goes on;
a run of them after a bad deploy stops the bridge instead, committing nothing past them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from kafkahooks.decode.avro import avro_bytes
from tests.integration.test_avro import add_sections, register, registry_section
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, headers_of, produce, read_topic, unique
from tests.support.receiver import Receiver
from tests.support.registry import REGISTRY_PASSWORD, RegistryServer, wire_format

Start = Callable[..., BridgeProcess]
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def _good(n: int) -> bytes:
    return json.dumps({"event": "e", "id": n, "status": "queued"}).encode()


def test_json_poison_is_dead_lettered_with_its_reason_between_delivered_events(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    route_dlq = f"{topic}.route-dlq"
    oversize = json.dumps({"event": "e", "id": 99, "status": "x" * 400}).encode()
    produce(
        bootstrap,
        topic,
        [
            ("a", _good(1)),
            ("b", b'{"event": "e", "id": 2,'),  # 1: not JSON
            ("c", _good(3)),
            ("d", oversize),  # 3: over max_value_bytes
            ("e", _good(5)),
            ("f", b'{"event": "e", "id": 6}'),  # 5: the template needs value.status
            ("g", _good(7)),
            ("h", None),  # 7: a tombstone, skipped
            ("i", _good(9)),
        ],
    )
    route = simple_route(
        "calls", topic, receiver.url, on_missing="fail", dead_letter_topic=route_dlq
    )
    config = routes_file(tmp_path / "r.yaml", bootstrap, group, [route])
    add_sections(config, sources={topic: {"value": "json", "max_value_bytes": 300}})
    bridge = start_bridge(config)

    receiver.wait_count(5)
    source_dead = read_topic(bootstrap, f"{topic}.dlq", 2)
    route_dead = read_topic(bootstrap, route_dlq, 1)
    wait_until(lambda: committed(bootstrap, group, topic) == [9], timeout=15)
    assert bridge.terminate() == 0
    assert sorted(r.json()["id"] for r in receiver.requests) == [1, 3, 5, 7, 9]

    reasons = {headers_of(m)["kafkahooks.source.offset"]: m for m in source_dead}
    not_json = headers_of(reasons["1"])
    assert not_json["kafkahooks.error.class"] == "DecodeError"
    assert "not JSON" in not_json["kafkahooks.error.message"]
    assert not_json["kafkahooks.route"] == ""  # no route chosen yet
    assert reasons["1"].value() == b'{"event": "e", "id": 2,'

    too_big = headers_of(reasons["3"])
    assert too_big["kafkahooks.error.class"] == "ValueTooLargeError"
    assert "over the limit of 300" in too_big["kafkahooks.error.message"]
    assert too_big["kafkahooks.value.omitted"] == str(len(oversize))
    assert reasons["3"].value() is None  # headers and coordinates only
    assert reasons["3"].key() == b"d"

    template = headers_of(route_dead[0])
    assert template["kafkahooks.error.class"] == "PermanentDeliveryError"
    assert "template" in template["kafkahooks.error.message"]
    assert "status" in template["kafkahooks.error.message"]
    assert template["kafkahooks.route"] == "calls"
    assert template["kafkahooks.source.offset"] == "5"


def test_avro_poison_is_dead_lettered_with_its_reason_between_delivered_events(
    bootstrap: str,
    receiver: Receiver,
    registry: RegistryServer,
    tmp_path: Path,
    start_bridge: Start,
) -> None:
    topic, group = create_topic(bootstrap, unique("audian")), unique("g")
    schema, schema_id = register(registry, "audian/call-event.avsc")
    example = json.loads((SCHEMAS / "audian" / "call-event.completed.json").read_text())

    def good(n: int) -> bytes:
        return wire_format(schema_id, avro_bytes(schema, {**example, "id": f"evt_{n}"}))

    produce(
        bootstrap,
        topic,
        [
            ("a", good(0)),
            ("b", wire_format(4242, good(1)[5:])),  # 1: a schema id the registry lacks
            ("c", good(2)),
            ("d", b"\x01" + good(3)[1:]),  # 3: wrong magic byte
            ("e", good(4)),
            ("f", wire_format(schema_id, b"\x02\xff\xff\xff\xff")),  # 5: not this schema
            ("g", good(6)),
        ],
    )
    route = simple_route(
        "audian",
        topic,
        receiver.url,
        template={"id": "{{ value.id }}", "event": "{{ value.event }}"},
    )
    config = routes_file(tmp_path / "r.yaml", bootstrap, group, [route])
    add_sections(
        config,
        schema_registry=registry_section(registry),
        sources={topic: {"value": "avro-registry"}},
    )
    bridge = start_bridge(config, {"REGISTRY_PASSWORD": REGISTRY_PASSWORD})

    receiver.wait_count(4)
    dead = read_topic(bootstrap, f"{topic}.dlq", 3)
    wait_until(lambda: committed(bootstrap, group, topic) == [7], timeout=15)
    assert bridge.terminate() == 0
    assert sorted(r.json()["id"] for r in receiver.requests) == [f"evt_{n}" for n in (0, 2, 4, 6)]
    by_offset = {headers_of(m)["kafkahooks.source.offset"]: headers_of(m) for m in dead}
    assert by_offset["1"]["kafkahooks.error.class"] == "UnknownSchemaError"
    assert "is not in the schema registry" in by_offset["1"]["kafkahooks.error.message"]
    assert by_offset["3"]["kafkahooks.error.class"] == "WireFormatError"
    assert "magic byte is 1" in by_offset["3"]["kafkahooks.error.message"]
    assert by_offset["5"]["kafkahooks.error.class"] == "SchemaMismatchError"
    assert REGISTRY_PASSWORD not in json.dumps(by_offset)


def test_a_run_of_dead_letters_stops_the_bridge_without_committing_past_them(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    produce(
        bootstrap,
        topic,
        [
            ("a", b"not json 0"),
            ("b", b"not json 1"),
            ("c", b"not json 2"),  # the third in a row: over max_consecutive 2
            ("d", _good(3)),
            ("e", _good(4)),
        ],
    )
    config = routes_file(
        tmp_path / "r.yaml", bootstrap, group, [simple_route("calls", topic, receiver.url)]
    )
    add_sections(config, dead_letter_limit={"max_consecutive": 2, "max_ratio": None})
    bridge = start_bridge(config)

    code = bridge.wait(timeout=30)
    assert code != 0
    output = bridge.output()
    assert "dead-letter limit exceeded" in output
    assert f"{topic}/0 at offset 2" in output
    assert "3 dead letters in a row (max_consecutive 2)" in output
    dead = read_topic(bootstrap, f"{topic}.dlq", 2, timeout=5)
    assert sorted(headers_of(m)["kafkahooks.source.offset"] for m in dead) == ["0", "1"]
    # the refused third record is not committed past: a restart begins with it
    assert committed(bootstrap, group, topic) == [2]


def test_a_registry_refusing_access_stops_the_bridge_rather_than_dead_letter_everything(
    bootstrap: str,
    receiver: Receiver,
    registry: RegistryServer,
    tmp_path: Path,
    start_bridge: Start,
) -> None:
    topic, group = create_topic(bootstrap, unique("audian")), unique("g")
    schema, schema_id = register(registry, "audian/call-event.avsc")
    example = json.loads((SCHEMAS / "audian" / "call-event.completed.json").read_text())
    produce(bootstrap, topic, [("a", wire_format(schema_id, avro_bytes(schema, example)))])
    route = simple_route("audian", topic, receiver.url, template={"id": "{{ value.id }}"})
    config = routes_file(tmp_path / "r.yaml", bootstrap, group, [route])
    add_sections(
        config,
        schema_registry=registry_section(registry),
        sources={topic: {"value": "avro-registry"}},
    )
    bridge = start_bridge(config, {"REGISTRY_PASSWORD": "an-outdated-password"})

    assert bridge.wait(timeout=30) != 0
    output = bridge.output()
    assert f"schema registry answered HTTP 401 for schema id {schema_id}" in output
    assert "an-outdated-password" not in output
    assert receiver.requests == []
    assert committed(bootstrap, group, topic) == [-1001]  # the record waits for a fixed config
