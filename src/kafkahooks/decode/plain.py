"""Decoded Avro → the values a JSON decoder would have produced.

Templates must not care whether a topic carries JSON or Avro, so the
decoder hands them only JSON's types: records and maps → dicts, arrays →
lists, enums → strings, ``timestamp-*`` → ISO-8601 strings (``...Z`` when
the instant is UTC), ``date``/``time-*`` → ISO strings, ``decimal`` and
``uuid`` → strings, ``bytes``/``fixed`` → base64, doubles with an integral
value → ints (as the JSON decoder reads ``1.0``), NaN/infinity → null (as
``JSON.stringify`` writes them).

:func:`compile_plain` walks a parsed schema once and returns a converter
that touches only the fields that need it, or ``None`` when the decoded
datum is already plain (strings, ints, enums, ...).
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from kafkahooks.decode.json_codec import json_number

__all__ = ["Convert", "compile_plain", "from_plain", "to_plain"]

Convert = Callable[[Any], Any]

_PLAIN_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "string"})


def _iso_datetime(value: dt.datetime) -> str:
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    text = value.isoformat(timespec=spec)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _iso_time(value: dt.time) -> str:
    return value.isoformat(timespec="milliseconds" if value.microsecond % 1000 == 0 else "auto")


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _number(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else json_number(value)
    return value


def to_plain(value: Any) -> Any:
    """Convert by runtime type: for unions and recursive types the schema cannot settle."""
    if isinstance(value, str | bool | int) or value is None:
        return value
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, bytes):
        return _b64(value)
    if isinstance(value, dt.datetime):
        return _iso_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return _iso_time(value)
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


_LOGICAL: dict[str, Convert] = {
    "timestamp-millis": _iso_datetime,
    "timestamp-micros": _iso_datetime,
    "local-timestamp-millis": _iso_datetime,
    "local-timestamp-micros": _iso_datetime,
    "date": lambda v: v.isoformat(),
    "time-millis": _iso_time,
    "time-micros": _iso_time,
    "decimal": str,
    "uuid": str,
}


def _guard(convert: Convert) -> Convert:
    """Leave values the logical reader did not convert (e.g. out of range) as they are."""

    def safe(value: Any) -> Any:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return _number(value)
        return convert(value)

    return safe


class _Compiler:
    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.active: set[str] = set()  # named types being compiled: recursion

    def compile(self, schema: Any) -> Convert | None:
        if isinstance(schema, str):
            return self._named(schema)
        if isinstance(schema, list):
            needs = any(self.compile(branch) is not None for branch in schema)
            return to_plain if needs else None
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if logical in _LOGICAL and kind in ("int", "long", "bytes", "fixed", "string"):
            return _guard(_LOGICAL[logical])
        if kind == "record" or kind == "error":
            return self._record(schema)
        if kind == "array":
            return self._each(self.compile(schema["items"]), list_=True)
        if kind == "map":
            return self._each(self.compile(schema["values"]), list_=False)
        if kind == "enum":
            return None
        return self.compile(kind) if isinstance(kind, str | list | dict) else None

    def _named(self, name: str) -> Convert | None:
        if name in _PLAIN_PRIMITIVES:
            return None
        if name in ("float", "double"):
            return _number
        if name in ("bytes", "fixed"):
            return _b64
        if name in self.active:
            return to_plain
        definition = self.named.get(name)
        if definition is None:
            return to_plain  # unknown to us: let the runtime type decide
        self.active.add(name)
        try:
            return self.compile(definition)
        finally:
            self.active.discard(name)

    def _record(self, schema: dict[str, Any]) -> Convert | None:
        name = schema.get("name")
        if isinstance(name, str):
            self.active.add(name)
        try:
            fields = [(f["name"], self.compile(f["type"])) for f in schema.get("fields", [])]
        finally:
            if isinstance(name, str):
                self.active.discard(name)
        todo = [(n, c) for n, c in fields if c is not None]
        if not todo:
            return None

        def record(value: Any) -> Any:
            if type(value) is not dict:
                return to_plain(value)
            for field_name, convert in todo:
                if field_name in value:
                    value[field_name] = convert(value[field_name])
            return value

        return record

    @staticmethod
    def _each(inner: Convert | None, *, list_: bool) -> Convert | None:
        if inner is None:
            return None
        if list_:
            return lambda value: [inner(v) for v in value]
        return lambda value: {k: inner(v) for k, v in value.items()}


def compile_plain(parsed_schema: Any) -> Convert | None:
    """A converter for data read with this (fastavro-parsed) schema, or None if none is needed."""
    named = parsed_schema.get("__named_schemas", {}) if isinstance(parsed_schema, dict) else {}
    return _Compiler(dict(named)).compile(parsed_schema)


# -- the other way: JSON-shaped sample events → data fastavro can write ---------

_PARSE_LOGICAL: dict[str, Convert] = {
    "timestamp-millis": dt.datetime.fromisoformat,
    "timestamp-micros": dt.datetime.fromisoformat,
    "local-timestamp-millis": dt.datetime.fromisoformat,
    "local-timestamp-micros": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time-millis": dt.time.fromisoformat,
    "time-micros": dt.time.fromisoformat,
    "decimal": Decimal,
    "uuid": uuid.UUID,
}


def from_plain(parsed_schema: Any, value: Any) -> Any:
    """Undo :func:`to_plain` for one JSON-shaped value (demo and test producers)."""
    named = parsed_schema.get("__named_schemas", {}) if isinstance(parsed_schema, dict) else {}
    return _from(parsed_schema, value, named)


def _from(schema: Any, value: Any, named: dict[str, Any]) -> Any:
    if isinstance(schema, str):
        if schema in named:
            return _from(named[schema], value, named)
        if schema in ("bytes", "fixed") and isinstance(value, str):
            return base64.b64decode(value)
        if schema in ("float", "double") and isinstance(value, int):
            return float(value)
        return value
    if isinstance(schema, list):
        if value is None:
            return None
        branches = [b for b in schema if b != "null"]
        return _from(branches[0], value, named) if len(branches) == 1 else value
    kind = schema.get("type")
    logical = schema.get("logicalType")
    if logical in _PARSE_LOGICAL and isinstance(value, str):
        return _PARSE_LOGICAL[logical](value)
    if kind == "record" and isinstance(value, dict):
        fields = {f["name"]: f["type"] for f in schema.get("fields", [])}
        return {k: _from(fields[k], v, named) if k in fields else v for k, v in value.items()}
    if kind == "array" and isinstance(value, list):
        return [_from(schema["items"], v, named) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _from(schema["values"], v, named) for k, v in value.items()}
    return _from(kind, value, named) if isinstance(kind, str | list) else value
