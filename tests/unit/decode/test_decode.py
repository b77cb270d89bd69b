"""Decoding source records: JSON, schemaless Avro, keys, and what templates then see."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema

from kafkahooks.config.sources import AvroFormat, JsonFormat, SourceConfig, StringFormat
from kafkahooks.decode import (
    DecodeError,
    Decoders,
    SchemaMismatchError,
    ValueTooLargeError,
    decode_json,
)
from kafkahooks.decode.avro import AvroDecoder, avro_bytes, load_avsc
from kafkahooks.decode.json_codec import json_number
from kafkahooks.decode.plain import compile_plain
from kafkahooks.event import Event
from kafkahooks.templating.templates import RenderContext, compile_template

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
CALL_STATUS = SCHEMAS / "call-status" / "call-status.avsc"


def _event(raw: bytes | None, key: bytes | None = b"k") -> Event:
    return Event("t", 0, 5, 1_700_000_000_000, key, raw)


def _without_nulls(value: Any) -> Any:
    """Avro has no "absent": an optional field left out of a JSON example decodes as null."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _examples() -> list[tuple[Path, Path]]:
    """(example, schema): an example belongs to the top-level schema its name starts with."""
    pairs = []
    for folder in sorted(p for p in SCHEMAS.iterdir() if p.is_dir()):
        tops = [s for s in folder.glob("*.avsc") if "." not in s.stem]
        for example in sorted(folder.glob("*.json")):
            owners = [s for s in tops if example.name.startswith(s.stem + ".")] or tops
            assert len(owners) == 1, f"{example}: which schema? {owners}"
            pairs.append((example, owners[0]))
    return pairs


# -- schemas/ ---------------------------------------------------------------


def test_every_product_has_schemas_and_examples() -> None:
    folders = {example.parent.name for example, _ in _examples()}
    assert {"outrival", "audian", "avoma", "auvious", "call-status"} <= folders


@pytest.mark.parametrize(("example", "schema"), _examples(), ids=lambda p: p.name)
def test_each_example_event_round_trips_through_its_avro_schema(
    example: Path, schema: Path
) -> None:
    parsed = load_avsc(str(schema))
    value = json.loads(example.read_text())
    decoded = AvroDecoder(parsed)(avro_bytes(parsed, value))
    assert _without_nulls(decoded) == _without_nulls(value)


def _field_names(schema: Any, named: dict[str, Any], prefix: str = "") -> set[str]:
    if isinstance(schema, str) and schema in named:
        return _field_names(named[schema], named, prefix)
    if isinstance(schema, list):
        return set().union(*(_field_names(b, named, prefix) for b in schema))
    if isinstance(schema, dict) and schema.get("type") == "record":
        out: set[str] = set()
        for f in schema["fields"]:
            out |= {prefix + f["name"]} | _field_names(f["type"], named, prefix + f["name"] + ".")
        return out
    if isinstance(schema, dict) and schema.get("type") == "array":
        return _field_names(schema["items"], named, prefix + "[].")
    return set()


def _json_names(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        out: set[str] = set()
        for k, v in value.items():
            out |= {prefix + k} | _json_names(v, prefix + k + ".")
        return out
    if isinstance(value, list):
        return set().union(set(), *(_json_names(v, prefix + "[].") for v in value))
    return set()


def test_call_status_schema_describes_exactly_the_demo_events() -> None:
    parsed = load_avsc(str(CALL_STATUS))
    schema_fields = _field_names(parsed, parsed["__named_schemas"])
    seen: set[str] = set()
    for path in sorted(CALL_STATUS.parent.glob("*.json")):
        seen |= _json_names(json.loads(path.read_text()))
    metadata_keys = {n for n in seen if n.startswith("metadata.")}  # a map: any keys
    assert seen - metadata_keys == schema_fields


def test_named_types_in_sibling_files_are_resolved() -> None:
    parsed = load_avsc(str(SCHEMAS / "outrival" / "server-event.avsc"))
    assert "com.outrival.Message" in parsed["__named_schemas"]
    assert load_avsc(str(SCHEMAS / "outrival" / "server-event.avsc")) is parsed  # parsed once


# -- what templates see -------------------------------------------------------

DEMO_TEMPLATE = {
    "event": "{{ value.event }}",
    "type": "{{ value.type }}",
    "callId": "{{ key }}",
    "data": {
        "status": "{{ value.data.status }}",
        "startedAt": "{{ value.data.startedAt }}",
        "endedAt": "{{ value.data.endedAt }}",
        "messages": "{{ value.data.messages }}",
        "summary": "{{ value.type }} call {{ value.data.status }} at {{ value.data.endedAt }}",
    },
    "crm": "{{ value.metadata.crmId }}",
}


def test_a_template_renders_the_same_payload_from_avro_as_from_json() -> None:
    example = SCHEMAS / "call-status" / "4-ended.json"
    raw_json = example.read_bytes()
    parsed = load_avsc(str(CALL_STATUS))
    template = compile_template(DEMO_TEMPLATE, "fail")
    bodies = []
    from_avro = AvroDecoder(parsed)(avro_bytes(parsed, json.loads(raw_json)))
    for value in [decode_json(raw_json), from_avro]:
        event = _event(raw_json, key=b"call-000001")
        event.value = value
        bodies.append(template.render(RenderContext(event, "evt_1", "r", "v1")))
    assert bodies[0] == bodies[1]
    assert bodies[1]["data"]["endedAt"] == "2026-11-22T10:03:12.500Z"
    assert bodies[1]["type"] == "VOICE"


def test_avro_logical_types_bytes_and_numbers_become_json_values() -> None:
    schema = parse_schema({
        "type": "record", "name": "All", "fields": [
            {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "day", "type": {"type": "int", "logicalType": "date"}},
            {"name": "at", "type": {"type": "int", "logicalType": "time-millis"}},
            {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "price", "type": {"type": "bytes", "logicalType": "decimal",
                                       "precision": 9, "scale": 2}},
            {"name": "blob", "type": "bytes"},
            {"name": "hash", "type": {"type": "fixed", "name": "H", "size": 2}},
            {"name": "whole", "type": "double"},
            {"name": "nan", "type": "double"},
            {"name": "maybe", "type": ["null", "bytes", "double"]},
            {"name": "tags", "type": {"type": "map", "values": "bytes"}},
        ]})
    value = {
        "ts": dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
        "us": dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
        "day": dt.date(2026, 1, 2), "at": dt.time(9, 30),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "price": Decimal("12.30"), "blob": b"\x00\xff", "hash": b"ab",
        "whole": 3.0, "nan": float("nan"), "maybe": b"hi", "tags": {"a": b"x"},
    }
    decoded = AvroDecoder(schema)(avro_bytes(schema, value))
    assert decoded == {
        "ts": "2026-01-02T03:04:05.678Z", "us": "2026-01-02T03:04:05.678901Z",
        "day": "2026-01-02", "at": "09:30:00.000",
        "id": "12345678-1234-5678-1234-567812345678", "price": "12.30",
        "blob": "AP8=", "hash": "YWI=", "whole": 3, "nan": None, "maybe": "aGk=",
        "tags": {"a": "eA=="},
    }
    json.dumps(decoded, allow_nan=False)  # nothing left that JSON cannot carry


def test_plain_schemas_need_no_conversion_at_all() -> None:
    parsed = load_avsc(str(SCHEMAS / "outrival" / "com.outrival.Message.avsc"))
    assert compile_plain(parsed) is None


def test_recursive_types_are_converted() -> None:
    schema = parse_schema({"type": "record", "name": "Node", "fields": [
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "next", "type": ["null", "Node"], "default": None}]})
    value = {"at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
             "next": {"at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC), "next": None}}
    decoded = AvroDecoder(schema)(avro_bytes(schema, value))
    assert decoded["next"]["at"] == "2026-01-02T00:00:00.000Z"


# -- bad bytes ----------------------------------------------------------------


def test_bytes_that_do_not_match_the_schema_are_a_mismatch() -> None:
    decoder = AvroDecoder(load_avsc(str(CALL_STATUS)))
    with pytest.raises(SchemaMismatchError, match="do not match"):
        decoder(b'{"event": "status-changed"}')
    good = avro_bytes(load_avsc(str(CALL_STATUS)),
                      json.loads((CALL_STATUS.parent / "1-queued.json").read_text()))
    with pytest.raises(SchemaMismatchError, match="left over"):
        decoder(good + b"\x00\x01")
    with pytest.raises(SchemaMismatchError):
        decoder(good[:-3])


def test_reader_schema_reads_old_events_with_new_defaults() -> None:
    writer = parse_schema({"type": "record", "name": "E", "fields": [
        {"name": "id", "type": "string"}]})
    reader = parse_schema({"type": "record", "name": "E", "fields": [
        {"name": "id", "type": "string"},
        {"name": "region", "type": "string", "default": "eu"}]})
    assert AvroDecoder(writer, reader)(avro_bytes(writer, {"id": "x"})) == {
        "id": "x", "region": "eu"}


def test_json_errors_name_the_position() -> None:
    reader = Decoders().decoder(JsonFormat(), StringFormat())
    with pytest.raises(DecodeError, match=r"not JSON: .* line 1"):
        reader.decode(_event(b'{"a": '))
    with pytest.raises(DecodeError, match="not UTF-8"):
        reader.decode(_event(b"\xff\xfe"))


def _stdlib_only(raw: bytes) -> str:
    """What reading a JSON value gave before msgspec: the standard library alone."""
    reader = json.JSONDecoder(parse_float=lambda text: json_number(float(text)))
    try:
        value = reader.decode(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8"
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc.msg} at line {exc.lineno} col {exc.colno}"
    return repr(value)  # repr tells 1 from 1.0 and keeps key order


def _read(raw: bytes) -> str:
    try:
        return repr(decode_json(raw))
    except DecodeError as exc:
        return "not UTF-8" if "not UTF-8" in str(exc) else str(exc).removeprefix("value is ")


def test_json_nested_too_deeply_is_a_decode_error_not_a_crash() -> None:
    for raw in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        with pytest.raises(DecodeError, match="nested too deeply"):
            decode_json(raw)
    with pytest.raises(DecodeError, match="nested too deeply"):
        # msgspec refuses the lone surrogate first: the standard library's path
        decode_json(b'["\\ud800",' + b"[" * 100_000 + b"]" * 100_001)


def test_json_values_read_exactly_as_the_standard_library_reads_them() -> None:
    rng = random.Random(7)
    texts = [
        b'{"a": 1.0, "b": -0.0, "c": 1e400, "d": 12345678901234567890123, "e": 0.1}',
        b'[NaN, Infinity, -Infinity]', b'"\\ud800"', b'{"a":1,"a":2}', b"\xef\xbb\xbf{}",
        b'"a\x7fb"', b'"\xc3"', b"1.", b"01", b"[1,]", b"", b" 1 ", b"\x0b1", b"true",
    ]
    pieces = [b"{", b"}", b"[", b"]", b",", b":", b'"k"', b'"v\\u00e9"', b"1", b"-2.5e3",
              b"1.0", b"null", b"true", b" ", b"\n", b"NaN", b"\xff", b'"\\ud83d"', b"0.1"]
    for _ in range(3000):
        texts.append(b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12))))
    for payload in ({"k": [1, 2.5, {"x": None}], "t": "10:00:00.000Z"}, [1e-7, 2**70, "é"]):
        text = json.dumps(payload).encode()
        for _ in range(300):  # one byte cut, doubled or changed
            at = rng.randrange(len(text))
            texts.append(text[:at] + rng.choice([b"", text[at:at + 1] * 2, b"x"]) + text[at + 1:])
    for raw in texts:
        assert _read(raw) == _stdlib_only(raw), raw


# -- keys ---------------------------------------------------------------------


def test_keys_in_json_or_avro_render_as_text() -> None:
    decoders = Decoders()
    json_key = decoders.decoder(JsonFormat(), JsonFormat())
    assert json_key.decode(_event(b"{}", key=b'"call-7"')) == ({}, "call-7")
    assert json_key.decode(_event(b"{}", key=b'{"id":7}'))[1] == '{"id":7}'
    with pytest.raises(DecodeError, match=r"^key is not JSON"):
        json_key.decode(_event(b"{}", key=b"call-7"))
    key_schema = str(SCHEMAS / "outrival" / "com.outrival.Message.avsc")
    avro_key = decoders.decoder(JsonFormat(), AvroFormat(schema=key_schema))
    raw_key = avro_bytes(load_avsc(key_schema), {"role": "user", "message": "hi"})
    event = _event(b"{}", key=raw_key)
    event.value, event.key_text = avro_key.decode(event)
    assert event.key_str == '{"role":"user","message":"hi"}'
    assert event.key == raw_key  # lanes and dead letters keep the original bytes


# -- one record, the routes of its topic ---------------------------------------


class _Config:
    def __init__(self, value_format: Any = None, key_format: Any = None) -> None:
        self.value_format = value_format
        self.key_format = key_format


class _Route:
    def __init__(self, name: str, value_format: Any = None) -> None:
        self.name = name
        self.config = _Config(value_format)


def test_routes_share_one_decode_unless_they_override_the_format() -> None:
    a, b, c = _Route("a"), _Route("b"), _Route("c", AvroFormat(schema=str(CALL_STATUS)))
    plan = Decoders({"t": SourceConfig()}).plan("t", [a, b, c])
    assert plan.shared_routes == (a, b)
    assert [routes for _, routes in plan.overrides] == [(c,)]
    event = _event(b'{"x": 1}')
    reading = plan.read(event)
    assert reading.views == [(event, (a, b))]  # decoded in place, once
    assert event.value == {"x": 1}
    # the Avro route cannot read JSON: its own dead letter, the others go on
    assert [(type(e), r) for e, r in reading.failures] == [(SchemaMismatchError, c)]


def test_an_undecodable_record_fails_before_any_route_is_chosen() -> None:
    route = _Route("a")
    reading = Decoders().plan("t", [route]).read(_event(b"not json"))
    assert reading.views == []
    assert [(type(e).__name__, r) for e, r in reading.failures] == [("DecodeError", None)]


def test_a_value_over_the_limit_is_refused_before_decoding() -> None:
    plan = Decoders({"t": SourceConfig(max_value_bytes=10)}).plan("t", [_Route("a")])
    reading = plan.read(_event(b'{"text": "more than ten bytes"}'))
    assert [(type(e), r) for e, r in reading.failures] == [(ValueTooLargeError, None)]
    assert "over the limit of 10" in str(reading.failures[0][0])
    assert plan.read(_event(b"{}")).views  # small ones pass


def test_tombstones_are_skipped_by_default_or_handed_on_with_a_null_value() -> None:
    route = _Route("a")
    assert Decoders().plan("t", [route]).read(_event(None)).skipped
    plan = Decoders({"*": SourceConfig(tombstones="deliver")}).plan("t", [route])
    reading = plan.read(_event(None, key=b"call-9"))
    assert not reading.skipped
    (view, routes), = reading.views
    assert view.value is None and view.key_str == "call-9" and routes == (route,)
