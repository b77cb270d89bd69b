"""The wire form: what a store record holds in clear, versions, refusals, the schema file."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from kafkahooks.endpoints import (
    Endpoint,
    EndpointLimitError,
    EndpointSpec,
    Keyring,
    MissingKeyError,
    SigningSecret,
    StoreRecordError,
    decode_endpoint,
    encode_endpoint,
    generate_key_spec,
    record_json_schema,
)
from tests.unit.endpoints.conftest import HEADER_SECRET, SECRET, URL

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "schemas" / "endpoint-record.schema.json"


def test_a_record_round_trips(endpoint: Endpoint, keyring: Keyring, now: float) -> None:
    data = encode_endpoint(endpoint, keyring, -1, now)
    decoded, revision = decode_endpoint(endpoint.id, data, 42, keyring)
    assert revision == -1
    assert decoded == replace(endpoint, offset=42)
    assert decoded.url == URL
    assert decoded.secrets[0].value.get_secret_value() == SECRET
    assert decoded.secret_headers["Authorization"].get_secret_value() == HEADER_SECRET


def test_no_secret_url_path_or_query_or_secret_header_in_the_bytes(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    data = encode_endpoint(endpoint, keyring, 7, now)
    for hidden in (
        "SECRETPATH123",
        "QUERYSECRET456",
        "receive",
        "token",
        SECRET[6:],
        "HEADERSECRET789",
    ):
        assert hidden.encode() not in data
    record = orjson.loads(data)
    assert record["origin"] == "https://hooks.example.com"  # the origin stays readable
    assert record["revision"] == 7 and record["version"] == "1.0"
    assert record["headers"] == {"X-Customer": "acme"}  # plain headers stay plain


def test_a_sealed_field_copied_into_another_record_does_not_open(
    make_spec: Callable[..., EndpointSpec], keyring: Keyring, now: float
) -> None:
    from kafkahooks.endpoints import create_endpoint

    victim = create_endpoint(make_spec(), "tenant-1", now=now)
    attacker = create_endpoint(make_spec(url="https://evil.example.net/x"), "tenant-2", now=now)
    stolen = orjson.loads(encode_endpoint(victim, keyring, -1, now))["secrets"]
    record = orjson.loads(encode_endpoint(attacker, keyring, -1, now))
    record["secrets"] = stolen
    with pytest.raises(StoreRecordError) as refused:
        decode_endpoint(attacker.id, orjson.dumps(record), 1, keyring)
    assert refused.value.reason == "decrypt"


def test_expired_previous_secrets_are_ignored_then_dropped_at_the_next_encode(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    current = SigningSecret(SecretStr("whsec_Y3VycmVudA=="))
    fresh = SigningSecret(SecretStr("whsec_ZnJlc2g="), expires=now + 60)
    stale = SigningSecret(SecretStr("whsec_c3RhbGU="), expires=now - 1)
    ep = replace(endpoint, secrets=(current, fresh, stale))
    assert [s.get_secret_value() for s in ep.signing_secrets(now)] == [
        "whsec_Y3VycmVudA==",
        "whsec_ZnJlc2g=",
    ]
    decoded, _ = decode_endpoint(ep.id, encode_endpoint(ep, keyring, -1, now), 0, keyring)
    assert decoded.secrets == (current, fresh)
    later, _ = decode_endpoint(ep.id, encode_endpoint(ep, keyring, 0, now + 120), 1, keyring)
    assert later.secrets == (current,)


def test_a_record_over_64_kib_is_refused_naming_the_limit(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    big = replace(endpoint, metadata={f"k{i}": "x" * 1500 for i in range(50)})
    with pytest.raises(EndpointLimitError, match="64 KiB"):
        encode_endpoint(big, keyring, -1, now)


def _record(endpoint: Endpoint, keyring: Keyring, now: float) -> dict[str, object]:
    record: dict[str, object] = orjson.loads(encode_endpoint(endpoint, keyring, -1, now))
    return record


def test_unknown_fields_are_ignored_within_major_version_1(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    record = _record(endpoint, keyring, now)
    record.update(version="1.7", colour="blue", nested={"a": 1})
    decoded, _ = decode_endpoint(endpoint.id, orjson.dumps(record), 3, keyring)
    assert decoded == replace(endpoint, offset=3)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"version": "2.0"}, "version"),
        ({"version": None}, "schema"),
        ({"kind": "token"}, "schema"),
        ({"secrets": []}, "schema"),
        ({"revision": "x"}, "schema"),
        ({"tenant": ""}, "schema"),
        ({"tenant": "t1\x00https:"}, "schema"),
        ({"id": "ep_OTHER"}, "key-mismatch"),
    ],
)
def test_a_bad_record_is_refused_with_its_reason(
    endpoint: Endpoint, keyring: Keyring, now: float, change: dict[str, object], reason: str
) -> None:
    record = {**_record(endpoint, keyring, now), **change}
    with pytest.raises(StoreRecordError) as refused:
        decode_endpoint(endpoint.id, orjson.dumps(record), 0, keyring)
    assert refused.value.reason == reason


@pytest.mark.parametrize("value", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_bytes_that_are_not_a_json_object_are_refused_as_json(
    keyring: Keyring, value: bytes
) -> None:
    with pytest.raises(StoreRecordError) as refused:
        decode_endpoint("ep_X", value, 0, keyring)
    assert refused.value.reason == "json"


def test_a_record_under_an_unknown_key_id_names_it(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    data = encode_endpoint(endpoint, keyring, -1, now)
    with pytest.raises(MissingKeyError) as missing:
        decode_endpoint(endpoint.id, data, 0, Keyring.parse(generate_key_spec("k9")))
    assert missing.value.kid == "k2"


def test_the_published_json_schema_is_the_one_the_code_reads() -> None:
    written = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert written == record_json_schema(), (
        "schemas/endpoint-record.schema.json is stale; regenerate it with: python -c "
        '"import json; from kafkahooks.endpoints import record_json_schema; '
        'print(json.dumps(record_json_schema(), indent=2))" > schemas/endpoint-record.schema.json'
    )


def test_the_schema_names_every_field_the_encoder_writes(
    endpoint: Endpoint, keyring: Keyring, now: float
) -> None:
    record = _record(endpoint, keyring, now)
    assert set(record) == set(record_json_schema()["properties"])


def test_filters_routes_and_limits_round_trip(
    make_spec: Callable[..., EndpointSpec], keyring: Keyring, now: float
) -> None:
    from kafkahooks.endpoints import create_endpoint

    spec = make_spec(
        filters=[
            {"field": "value.team", "in": ["blue", "red"]},
            {"field": "headers.region", "exists": True},
            {"field": "value.kind", "equals": None},
        ],
        routes=["calls"],
        rate_limit=2.5,
        payload_version="2024-01",
        active=False,
    )
    ep = create_endpoint(spec, "t", now=now)
    decoded, _ = decode_endpoint(ep.id, encode_endpoint(ep, keyring, -1, now), 9, keyring)
    assert decoded == replace(ep, offset=9)
    assert [p.test for p in decoded.filters] == ["in_", "exists", "equals"]


@pytest.mark.parametrize(
    "change",
    [
        {"origin": "https://attacker.example.net"},  # would send path, credentials there
        {"tenant": "tenant-other"},  # would deliver another tenant's events to it
    ],
)
def test_a_writer_without_the_key_cannot_redirect_sealed_fields_by_editing_plain_ones(
    endpoint: Endpoint, keyring: Keyring, now: float, change: dict[str, str]
) -> None:
    record = {**_record(endpoint, keyring, now), **change}
    with pytest.raises(StoreRecordError) as refused:
        decode_endpoint(endpoint.id, orjson.dumps(record), 0, keyring)
    assert refused.value.reason == "decrypt"
