"""Avro in the Confluent wire format, schemas from a registry: confluent-kafka's own
in-process ``mock://`` registry, and a registry-compatible endpoint on loopback."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import parse_schema
from pydantic import SecretStr

from kafkahooks.config.sources import SchemaRegistryConfig
from kafkahooks.decode import (
    RegistryUnavailableError,
    SchemaMismatchError,
    UnknownSchemaError,
    WireFormatError,
)
from kafkahooks.decode.avro import avro_bytes, load_avsc
from kafkahooks.decode.plain import from_plain
from kafkahooks.decode.registry import RegistryAvroDecoder, registry_client
from kafkahooks.demo.broker import free_port
from tests.support.registry import RegistryServer, self_contained, wire_format

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
MEETING = SCHEMAS / "avoma" / "meeting-event.avsc"
BOOKED = json.loads((SCHEMAS / "avoma" / "meeting-event.booked.json").read_text())


@pytest.fixture
def mock_config() -> SchemaRegistryConfig:
    return SchemaRegistryConfig(url=f"mock://{uuid.uuid4().hex[:8]}")


@pytest.fixture
def server() -> Iterator[RegistryServer]:
    running = RegistryServer(username="svc-kafkahooks", password="registry-pa55")
    yield running
    running.close()


def _confluent_serialize(config: SchemaRegistryConfig, schema: Any, value: Any) -> bytes:
    """A record exactly as a Confluent producer writes it (auto-registers the schema)."""
    client = registry_client(config)
    serializer = AvroSerializer(client, json.dumps(schema))
    out = serializer(value, SerializationContext("meetings", MessageField.VALUE))
    assert isinstance(out, bytes)
    return out


def test_records_from_a_confluent_serializer_decode_like_json(
    mock_config: SchemaRegistryConfig,
) -> None:
    parsed = load_avsc(str(MEETING))
    raw = _confluent_serialize(mock_config, self_contained(parsed), from_plain(parsed, BOOKED))
    assert raw[0] == 0
    decoded = RegistryAvroDecoder(registry_client(mock_config))(raw)
    assert decoded == BOOKED  # timestamps as ISO strings, enums as strings, nulls as null


def test_a_reader_schema_reads_every_writer_version(mock_config: SchemaRegistryConfig) -> None:
    v1 = {"type": "record", "name": "Call", "fields": [{"name": "id", "type": "string"}]}
    v2 = {"type": "record", "name": "Call", "fields": [
        {"name": "id", "type": "string"},
        {"name": "channel", "type": "string", "default": "voice"}]}
    client = registry_client(mock_config)
    old = _confluent_serialize(mock_config, v1, {"id": "a"})
    decoder = RegistryAvroDecoder(client, reader=parse_schema(v2))
    assert decoder(old) == {"id": "a", "channel": "voice"}


def test_schema_references_are_fetched_and_resolved(mock_config: SchemaRegistryConfig) -> None:
    client = registry_client(mock_config)
    team = {"type": "record", "name": "Team", "namespace": "com.avoma",
            "fields": [{"name": "uuid", "type": "string"}, {"name": "name", "type": "string"}]}
    client.register_schema("com.avoma.Team", Schema(json.dumps(team), "AVRO"))
    event = {"type": "record", "name": "Assigned", "namespace": "com.avoma",
             "fields": [{"name": "team", "type": "com.avoma.Team"}]}
    ref = SchemaReference("com.avoma.Team", "com.avoma.Team", 1)
    schema_id = client.register_schema("assigned-value", Schema(json.dumps(event), "AVRO", [ref]))
    named: dict[str, Any] = {}
    parse_schema(team, named_schemas=named)
    writer = parse_schema(event, named_schemas=named)
    raw = wire_format(schema_id, avro_bytes(writer, {"team": {"uuid": "t1", "name": "Sales"}}))
    assert RegistryAvroDecoder(client)(raw) == {"team": {"uuid": "t1", "name": "Sales"}}


@pytest.mark.parametrize(("raw", "error", "message"), [
    (b"\x01\x00\x00\x00\x01\x02", WireFormatError, "magic byte is 1"),
    (b'{"id": 1}', WireFormatError, "magic byte is 123"),
    (b"\x00\x00\x00", WireFormatError, "too short"),
])
def test_records_not_in_the_wire_format_are_refused(
    mock_config: SchemaRegistryConfig, raw: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        RegistryAvroDecoder(registry_client(mock_config))(raw)


def test_bytes_that_do_not_match_the_registered_schema(mock_config: SchemaRegistryConfig) -> None:
    schema = {"type": "record", "name": "Call", "fields": [
        {"name": "id", "type": "string"}, {"name": "seconds", "type": "long"}]}
    raw = _confluent_serialize(mock_config, schema, {"id": "a", "seconds": 3})
    decoder = RegistryAvroDecoder(registry_client(mock_config))
    with pytest.raises(SchemaMismatchError, match=r"schema id \d+ \(Call\)"):
        decoder(raw[:5] + b"\xff\xff\xff")
    with pytest.raises(SchemaMismatchError, match="left over"):
        decoder(raw + b"\x02")


def test_schemas_are_fetched_once_per_id_with_basic_auth(server: RegistryServer) -> None:
    schema = {"type": "record", "name": "Ping", "fields": [{"name": "n", "type": "int"}]}
    schema_id = server.register(schema)
    config = SchemaRegistryConfig(url=server.url, username="svc-kafkahooks",
                                  password=SecretStr("registry-pa55"), max_retries=0)
    decoder = RegistryAvroDecoder(registry_client(config))
    for n in range(5):
        assert decoder(wire_format(schema_id, avro_bytes(parse_schema(schema), {"n": n}))) == {
            "n": n}
    assert server.fetches == [f"/schemas/ids/{schema_id}"]
    assert server.refused == 0


def test_an_unknown_schema_id_is_the_record_fault_and_asked_again_only_later(
    server: RegistryServer,
) -> None:
    config = SchemaRegistryConfig(url=server.url, username="svc-kafkahooks",
                                  password=SecretStr("registry-pa55"), max_retries=0,
                                  unknown_id_ttl=60)
    decoder = RegistryAvroDecoder(registry_client(config), unknown_ttl=60)
    for _ in range(3):
        with pytest.raises(UnknownSchemaError, match="schema id 4242 is not in the schema regis"):
            decoder(wire_format(4242, b"\x02"))
    assert server.fetches == ["/schemas/ids/4242"]


def test_wrong_registry_credentials_stop_rather_than_dead_letter(server: RegistryServer) -> None:
    config = SchemaRegistryConfig(url=server.url, username="svc-kafkahooks",
                                  password=SecretStr("not-the-password"), max_retries=0)
    with pytest.raises(RegistryUnavailableError, match="HTTP 401") as caught:
        RegistryAvroDecoder(registry_client(config))(wire_format(1, b"\x02"))
    assert "not-the-password" not in str(caught.value)


def test_an_unreachable_registry_stops_rather_than_dead_letter() -> None:
    config = SchemaRegistryConfig(url=f"http://127.0.0.1:{free_port()}", max_retries=0,
                                  timeout=2)
    with pytest.raises(RegistryUnavailableError, match="unreachable"):
        RegistryAvroDecoder(registry_client(config))(wire_format(1, b"\x02"))


def test_registry_password_is_a_secret() -> None:
    config = SchemaRegistryConfig(url="https://registry.example", username="u",
                                  password=SecretStr("pw-9"))
    assert "pw-9" not in repr(config) and "pw-9" not in str(config.model_dump())
    with pytest.raises(ValueError, match="username/password"):
        SchemaRegistryConfig(url="https://u:pw-9@registry.example")
    with pytest.raises(ValueError, match="both username and password"):
        SchemaRegistryConfig(url="https://registry.example", username="u")
