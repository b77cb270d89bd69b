"""Avro in the Confluent wire format, schemas fetched by id from a Schema Registry.

The registry client is the one confluent-kafka ships
(``confluent_kafka.schema_registry``); it caches schemas by id.  This module
adds the parsed-schema cache on top (one fastavro parse per id), schema
references, an optional reader schema, and the split between what is the
record's fault (a :class:`DecodeError`: dead-lettered) and what is not
(:class:`RegistryUnavailableError`: the bridge stops, nothing is skipped).

A fetch happens once per schema id per process, synchronously: the first
record with a new id waits for it.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from fastavro import parse_schema

from kafkahooks.config import SchemaRegistryConfig
from kafkahooks.decode.avro import read_avro, schema_name
from kafkahooks.decode.errors import (
    RegistryUnavailableError,
    UnknownSchemaError,
    WireFormatError,
)
from kafkahooks.decode.plain import Convert, compile_plain

__all__ = ["MAGIC_BYTE", "RegistryAvroDecoder", "client_conf", "registry_client"]

MAGIC_BYTE = 0
_HEADER = 5  # magic byte + 4-byte big-endian schema id

_clients: dict[tuple[Any, ...], SchemaRegistryClient] = {}


def client_conf(config: SchemaRegistryConfig) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "url": config.url,
        "timeout": config.timeout,
        "max.retries": config.max_retries,
        "retries.wait.ms": 200,
        "retries.max.wait.ms": 2000,
    }
    if config.username is not None and config.password is not None:
        conf["basic.auth.user.info"] = f"{config.username}:{config.password.get_secret_value()}"
    if config.ca_location is not None:
        conf["ssl.ca.location"] = config.ca_location
    return conf


def registry_client(config: SchemaRegistryConfig) -> SchemaRegistryClient:
    """One client per registry settings per process (``mock://`` gives an in-process registry)."""
    conf = client_conf(config)
    key = tuple(sorted(conf.items()))
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = SchemaRegistryClient.new_client(conf)
    return client


class RegistryAvroDecoder:
    def __init__(
        self, client: SchemaRegistryClient, reader: Any | None = None, unknown_ttl: float = 30.0
    ) -> None:
        self._client = client
        self._reader = reader
        self._reader_plain = compile_plain(reader) if reader is not None else None
        self._unknown_ttl = unknown_ttl
        self._writers: dict[int, tuple[Any, Convert | None, str]] = {}
        self._unknown: dict[int, float] = {}  # schema id → monotonic time to ask again

    def __call__(self, raw: bytes) -> Any:
        if len(raw) < _HEADER:
            raise WireFormatError(
                f"{len(raw)} bytes: too short for the Confluent wire format "
                "(magic byte 0, 4-byte schema id, Avro body)"
            )
        if raw[0] != MAGIC_BYTE:
            raise WireFormatError(
                f"magic byte is {raw[0]}, expected {MAGIC_BYTE} (Confluent wire format)"
            )
        schema_id = int.from_bytes(raw[1:_HEADER], "big")
        entry = self._writers.get(schema_id) or self._load(schema_id)
        writer, writer_plain, what = entry
        datum = read_avro(raw, writer, self._reader, what, start=_HEADER)
        plain = writer_plain if self._reader is None else self._reader_plain
        return datum if plain is None else plain(datum)

    # -- schemas ---------------------------------------------------------------
    def _load(self, schema_id: int) -> tuple[Any, Convert | None, str]:
        retry_at = self._unknown.get(schema_id)
        if retry_at is not None and time.monotonic() < retry_at:
            raise UnknownSchemaError(f"schema id {schema_id} is not in the schema registry")
        what = f"schema id {schema_id}"
        try:
            schema = _ask(what, lambda: self._client.get_schema(schema_id))
            if schema.schema_type not in (None, "AVRO"):
                raise WireFormatError(f"{what} is a {schema.schema_type} schema, not Avro")
            named: dict[str, Any] = {}
            self._add_references(schema, named, depth=0)
            writer = _parse(schema, named, what)
        except UnknownSchemaError:
            self._unknown[schema_id] = time.monotonic() + self._unknown_ttl
            raise
        entry = (writer, compile_plain(writer), f"{what} ({schema_name(writer)})")
        self._writers[schema_id] = entry
        self._unknown.pop(schema_id, None)
        return entry

    def _add_references(self, schema: Schema, named: dict[str, Any], depth: int) -> None:
        if depth > 32:
            raise UnknownSchemaError("schema references nest deeper than 32 levels")
        for ref in schema.references or []:
            if ref.name in named or ref.subject is None:
                continue
            subject = ref.subject
            version: int | Literal["latest"] = ref.version if ref.version is not None else "latest"
            what = f"schema reference {subject!r} version {version}"
            registered = _ask(what, functools.partial(self._client.get_version, subject, version))
            self._add_references(registered.schema, named, depth + 1)
            _parse(registered.schema, named, what)


T = TypeVar("T")


def _ask(what: str, call: Callable[[], T]) -> T:
    """One registry call; a 404 is the record's problem, anything else is not."""
    try:
        return call()
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            raise UnknownSchemaError(
                f"{what} is not in the schema registry ({exc.error_message})"
            ) from None
        raise RegistryUnavailableError(
            f"schema registry answered HTTP {exc.http_status_code} for {what}: {exc.error_message}"
        ) from None
    except Exception as exc:  # transport errors of the client's HTTP stack
        raise RegistryUnavailableError(
            f"schema registry unreachable fetching {what}: {type(exc).__name__}"
        ) from None


def _parse(schema: Schema, named: dict[str, Any], what: str) -> Any:
    try:
        return parse_schema(json.loads(schema.schema_str or ""), named_schemas=named)
    except Exception as exc:  # json and fastavro parse errors alike
        raise UnknownSchemaError(f"{what} is not a usable Avro schema: {exc}") from None
