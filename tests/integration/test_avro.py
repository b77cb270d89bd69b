"""Avro topics through the real broker: schemaless Avro, and the Confluent wire format with
schemas from a registry (a registry-compatible endpoint on loopback; confluent-kafka's
in-process ``mock://`` registry for a bridge run in-process)."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from kafkahooks.app.bridge import Bridge
from kafkahooks.app.settings import Settings
from kafkahooks.config import load_config
from kafkahooks.config.sources import SchemaRegistryConfig
from kafkahooks.decode.avro import avro_bytes, load_avsc
from kafkahooks.decode.plain import from_plain
from kafkahooks.decode.registry import registry_client
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, produce, unique
from tests.support.receiver import Receiver, verify_hex_signature
from tests.support.registry import REGISTRY_PASSWORD, RegistryServer, self_contained, wire_format

Start = Callable[..., BridgeProcess]
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CALL_STATUS = SCHEMAS / "call-status"
SECRET = "avro-test-secret"

# the demo's fields; on_missing null, because Avro has no "absent", only null
CALL_TEMPLATE = {
    "event": "{{ value.event }}",
    "type": "{{ value.type }}",
    "callId": "{{ key }}",
    "data": {
        "status": "{{ value.data.status }}",
        "startedAt": "{{ value.data.startedAt }}",
        "endedAt": "{{ value.data.endedAt }}",
        "endedReason": "{{ value.data.endedReason }}",
        "messages": "{{ value.data.messages }}",
        "line": "{{ value.type }} {{ value.data.status }} since {{ value.data.startedAt }}",
    },
    "crm": "{{ value.metadata.crmId }}",
    "topic": "{{ topic }}",
}


def add_sections(config: Path, **sections: Any) -> Path:
    """Top-level routes-file sections (sources, schema_registry, ...) next to kafka/routes."""
    doc = yaml.safe_load(config.read_text())
    doc.update(sections)
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    return config


def _call_events() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(CALL_STATUS.glob("*.json"))]


def test_json_and_avro_topics_send_the_same_webhooks(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    json_topic = create_topic(bootstrap, unique("calls-json"))
    avro_topic = create_topic(bootstrap, unique("calls-avro"))
    group = unique("g")
    schema = load_avsc(str(CALL_STATUS / "call-status.avsc"))
    events = _call_events()
    produce(bootstrap, json_topic, [("call-000001", e) for e in events])
    produce(bootstrap, avro_topic, [("call-000001", avro_bytes(schema, e)) for e in events])
    route = simple_route(
        "calls",
        json_topic,
        receiver.url,
        SECRET,
        template=CALL_TEMPLATE,
        topics=[json_topic, avro_topic],
    )
    config = routes_file(tmp_path / "r.yaml", bootstrap, group, [route])
    add_sections(
        config,
        sources={
            avro_topic: {
                "value": {"format": "avro", "schema": str(CALL_STATUS / "call-status.avsc")}
            }
        },
    )
    bridge = start_bridge(config)

    receiver.wait_count(8)
    wait_until(lambda: committed(bootstrap, group, avro_topic) == [4], timeout=15)
    assert bridge.terminate() == 0
    by_topic: dict[str, list[Any]] = {json_topic: [], avro_topic: []}
    for request in receiver.requests:
        assert verify_hex_signature(request, SECRET)
        body = request.json()
        by_topic[body.pop("topic")].append(body)
    assert by_topic[json_topic] == by_topic[avro_topic]
    ended = by_topic[avro_topic][-1]
    assert ended["type"] == "VOICE"  # an Avro enum, as a string
    assert ended["data"]["endedAt"] == "2026-11-22T10:03:12.500Z"  # timestamp-millis, ISO-8601
    assert ended["data"]["line"] == "VOICE ended since 2026-11-22T10:00:00.000Z"
    assert ended["crm"] == "CRM-1001"


def registry_section(registry: RegistryServer) -> dict[str, Any]:
    return {
        "url": registry.url,
        "username": "kafkahooks",
        "password": "${REGISTRY_PASSWORD}",
        "max_retries": 0,
        "timeout": 5,
    }


def register(registry: RegistryServer, relative: str) -> tuple[Any, int]:
    """Load a schema of schemas/ and register it (self-contained) with the test registry."""
    schema = load_avsc(str(SCHEMAS / relative))
    return schema, registry.register(self_contained(schema))


def test_registry_avro_is_decoded_with_schemas_fetched_once_with_basic_auth(
    bootstrap: str,
    receiver: Receiver,
    registry: RegistryServer,
    tmp_path: Path,
    start_bridge: Start,
) -> None:
    topic, group = create_topic(bootstrap, unique("outrival")), unique("g")
    schema, schema_id = register(registry, "outrival/server-event.avsc")
    examples = sorted((SCHEMAS / "outrival").glob("server-event.*.json"))
    values = [json.loads(p.read_text()) for p in examples]
    produce(
        bootstrap,
        topic,
        [(f"c-{i}", wire_format(schema_id, avro_bytes(schema, v))) for i, v in enumerate(values)],
    )
    template = {
        "event": "{{ value.event }}",
        "type": "{{ value.type }}",
        "companionId": "{{ value.companionId }}",
        "data": "{{ value.data }}",
    }
    route = simple_route("outrival", topic, receiver.url, SECRET, template=template)
    config = routes_file(tmp_path / "r.yaml", bootstrap, group, [route])
    add_sections(
        config,
        schema_registry=registry_section(registry),
        sources={topic: {"value": "avro-registry"}},
    )
    bridge = start_bridge(config, {"REGISTRY_PASSWORD": REGISTRY_PASSWORD})

    receiver.wait_count(len(values))
    wait_until(lambda: committed(bootstrap, group, topic) == [len(values)], timeout=15)
    assert bridge.terminate() == 0
    got = sorted((r.json() for r in receiver.requests), key=_canonical)
    want = [
        {
            **v,
            "data": {
                "endedAt": None,
                "endedReason": None,
                "phoneNumber": None,
                "status": None,
                **v["data"],
            },
        }
        for v in values
    ]
    assert got == sorted(want, key=_canonical)
    assert registry.fetches == [f"/schemas/ids/{schema_id}"]  # cached after the first
    assert registry.refused == 0
    assert REGISTRY_PASSWORD not in bridge.output()


def _canonical(body: Any) -> str:
    return json.dumps(body, sort_keys=True)


def test_registry_avro_with_the_in_process_mock_registry(
    bootstrap: str, receiver: Receiver, tmp_path: Path
) -> None:
    topic, group = create_topic(bootstrap, unique("meetings")), unique("g")
    registry_url = f"mock://{uuid.uuid4().hex[:8]}"
    parsed = load_avsc(str(SCHEMAS / "avoma" / "meeting-event.avsc"))
    client = registry_client(SchemaRegistryConfig(url=registry_url))
    serializer = AvroSerializer(client, json.dumps(self_contained(parsed)))
    examples = sorted((SCHEMAS / "avoma").glob("meeting-event.*.json"))
    values = [json.loads(p.read_text()) for p in examples]
    ctx = SerializationContext(topic, MessageField.VALUE)
    produce(
        bootstrap,
        topic,
        [(v["meeting"]["uuid"], serializer(from_plain(parsed, v), ctx)) for v in values],
    )
    template = {
        "trigger": "{{ value.event_type }}",
        "team": "{{ value.team.name }}",
        "meeting": "{{ value.meeting }}",
        "notes": "{{ value.notes }}",
        "scheduler": "{{ value.scheduler }}",
    }
    route = simple_route("avoma", topic, receiver.url, SECRET, template=template)
    path = routes_file(tmp_path / "r.yaml", bootstrap, group, [route])
    add_sections(
        path, schema_registry={"url": registry_url}, sources={topic: {"value": "avro-registry"}}
    )
    bridge = Bridge(
        load_config(path),
        Settings(allow_local_targets=True, http_port=0, shutdown_timeout=5, commit_interval=0.2),
    )
    with _running(bridge):
        receiver.wait_count(len(values))
        wait_until(lambda: committed(bootstrap, group, topic) == [len(values)], timeout=15)
    bodies = {r.json()["trigger"]: r.json() for r in receiver.requests}
    notes = bodies["AI_NOTES_READY"]
    assert notes["team"] == "Sales"
    assert notes["meeting"]["start_at"] == "2026-03-04T16:00:00.000Z"
    assert notes["notes"]["action_items"] == ["Send pricing", "Book technical deep dive"]
    assert bodies["MEETING_CANCELED_VIA_SCHEDULER"]["team"] is None
    moved = bodies["MEETING_RESCHEDULED_VIA_SCHEDULER"]["scheduler"]
    assert moved["previous_start_at"] == "2026-03-06T01:00:00.000Z"


class _running:
    """Run a bridge on its own event loop thread; stop it gracefully on exit."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.loop = asyncio.new_event_loop()
        self.result: Any = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.result = self.loop.run_until_complete(self.bridge.run())

    def __enter__(self) -> _running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.bridge.stop)
        self.thread.join(30)
        self.loop.close()
        assert self.result is not None and self.result.exit_code == 0, self.result
