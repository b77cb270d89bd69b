"""Schemaless Avro: a writer schema from an ``.avsc`` file, the body as it is.

Schema files are parsed once per process (:func:`load_avsc` is cached).
A named type a file refers to but does not define is looked up as
``<namespace.Name>.avsc`` in the same folder (fastavro's flat repository),
or in the ``references`` files given before it.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import load_schema, load_schema_ordered

from kafkahooks.config import AvroFormat, KeyFormat, RegistryAvroFormat, ValueFormat
from kafkahooks.decode.errors import SchemaMismatchError
from kafkahooks.decode.plain import Convert, compile_plain, from_plain

__all__ = [
    "AvroDecoder",
    "SchemaFileError",
    "avro_bytes",
    "load_avsc",
    "read_avro",
    "schema_name",
    "schema_problem",
]


class SchemaFileError(ValueError):
    """An ``.avsc`` file cannot be read or is not a valid Avro schema."""


@functools.cache
def load_avsc(path: str, references: tuple[str, ...] = ()) -> Any:
    """The parsed schema of ``path``, named-type references resolved; cached per process."""
    for file in (*references, path):
        if Path(file).suffix != ".avsc":
            raise SchemaFileError(f"{file}: an Avro schema file must end in .avsc")
        if not Path(file).is_file():
            raise SchemaFileError(f"{file}: no such schema file")
    try:
        if references:
            return load_schema_ordered([*references, path])
        return load_schema(path)
    except Exception as exc:  # fastavro raises many types here; all mean "bad schema file"
        raise SchemaFileError(f"{path}: not a valid Avro schema: {exc}") from None


def schema_problem(fmt: ValueFormat | KeyFormat | None) -> str | None:
    """Why a format's schema files cannot be used (checked when the config is loaded)."""
    try:
        if isinstance(fmt, AvroFormat):
            load_avsc(fmt.schema_file, fmt.references)
        if isinstance(fmt, AvroFormat | RegistryAvroFormat) and fmt.reader_schema:
            load_avsc(fmt.reader_schema)
    except SchemaFileError as exc:
        return str(exc)
    return None


def schema_name(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("name") or schema.get("type"))
    return str(schema)


def read_avro(raw: bytes, writer: Any, reader: Any | None, what: str, start: int = 0) -> Any:
    """Decode the Avro body at ``raw[start:]``; anything but an exact, full read is a mismatch."""
    buffer = io.BytesIO(raw)
    buffer.seek(start)
    try:
        datum = schemaless_reader(buffer, writer, reader)
    except Exception as exc:  # EOFError, IndexError, UnicodeDecodeError, resolution errors...
        detail = str(exc) or type(exc).__name__
        raise SchemaMismatchError(f"bytes do not match {what}: {detail}") from None
    left = len(raw) - buffer.tell()
    if left:
        raise SchemaMismatchError(f"bytes do not match {what}: {left} bytes left over")
    return datum


class AvroDecoder:
    """Bytes written with one known schema, optionally read into a reader schema."""

    def __init__(self, writer: Any, reader: Any | None = None) -> None:
        self.writer = writer
        self.reader = reader
        self._what = f"Avro schema {schema_name(writer)}"
        self._plain: Convert | None = compile_plain(reader if reader is not None else writer)

    def __call__(self, raw: bytes) -> Any:
        datum = read_avro(raw, self.writer, self.reader, self._what)
        return datum if self._plain is None else self._plain(datum)


def avro_bytes(schema: Any, value: Any) -> bytes:
    """The schemaless Avro body of a JSON-shaped event (for the demo and test producers)."""
    buffer = io.BytesIO()
    schemaless_writer(buffer, schema, from_plain(schema, value))
    return buffer.getvalue()
