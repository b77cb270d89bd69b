"""The checks every kind of endpoint-store record shares (endpoints, their status).

Invariant: a record is read the same way whatever its kind — an object, of major
version 1, of its kind's shape — and a refusal names what is wrong, never a value
the record holds (it may be a secret's ciphertext or a customer's URL).
"""

from __future__ import annotations

from typing import TypeVar

import orjson
from pydantic import TypeAdapter, ValidationError

from kafkahooks.endpoints.errors import StoreRecordError

__all__ = ["validated"]

T = TypeVar("T")


def validated(key: str, value: bytes, adapter: TypeAdapter[T]) -> T:
    """A store record's JSON checked as every kind of record is: an object, of major
    version 1, of ``adapter``'s shape.  ``StoreRecordError`` (``json``, ``version``,
    ``schema``) names what is wrong, never a value it holds."""
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise StoreRecordError("json", key) from None
    if not isinstance(raw, dict):
        raise StoreRecordError("json", f"{key}: not an object")
    version = raw.get("version")
    if isinstance(version, str) and version.partition(".")[0] != "1":
        raise StoreRecordError("version", f"{key}: version {version[:20]!r}")
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})[:5]
        raise StoreRecordError("schema", f"{key}: {', '.join(fields)}") from None
