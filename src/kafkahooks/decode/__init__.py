"""Kafka record bytes → :class:`~kafkahooks.event.Event` values templates can read.

A :class:`Decoder` is one (value format, key format) pair, built once.
:class:`Decoders` picks them per source topic (``sources:``) and per route
(``value_format`` / ``key_format``), and :meth:`SourcePlan.read` decodes a
record once for every route that reads the topic's format, plus once per
distinct override; routes without an override share the first decode.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from kafkahooks.config import (
    AvroFormat,
    JsonFormat,
    KeyFormat,
    RegistryAvroFormat,
    SchemaRegistryConfig,
    SourceConfig,
    StringFormat,
    ValueFormat,
)
from kafkahooks.decode.avro import (
    AvroDecoder,
    SchemaFileError,
    avro_bytes,
    load_avsc,
    schema_problem,
)
from kafkahooks.decode.errors import (
    DecodeError,
    RegistryUnavailableError,
    SchemaMismatchError,
    UnknownSchemaError,
    ValueTooLargeError,
    WireFormatError,
)
from kafkahooks.decode.json_codec import decode_json
from kafkahooks.event import Event

__all__ = [
    "DecodeError",
    "Decoder",
    "Decoders",
    "Reading",
    "RegistryUnavailableError",
    "SchemaFileError",
    "SchemaMismatchError",
    "SourcePlan",
    "UnknownSchemaError",
    "ValueTooLargeError",
    "WireFormatError",
    "avro_bytes",
    "decode_json",
    "load_avsc",
    "schema_problem",
]


ReadBytes = Callable[[bytes], Any]


def _key_text(value: Any) -> str:
    """What ``{{ key }}`` renders for a decoded key: text as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Decoder:
    value: ReadBytes
    key: ReadBytes | None = None  # None: keys are UTF-8 text, nothing to decode

    def decode(self, event: Event) -> tuple[Any, str | None]:
        """(value, key text) of one record; raises :class:`DecodeError`."""
        value = None if event.raw_value is None else self.value(event.raw_value)
        if self.key is None or event.key is None:
            return value, None
        try:
            return value, _key_text(self.key(event.key))
        except DecodeError as exc:
            text = str(exc)
            text = "key" + text[5:] if text.startswith("value") else f"key: {text}"
            raise type(exc)(text) from None


class _HasFormats(Protocol):
    @property
    def value_format(self) -> ValueFormat | None: ...

    @property
    def key_format(self) -> KeyFormat | None: ...


class RouteLike(Protocol):
    @property
    def config(self) -> _HasFormats: ...


R = TypeVar("R", bound=RouteLike)


@dataclass(slots=True)
class Reading(Generic[R]):
    """One record as the routes of its topic see it."""

    views: list[tuple[Event, tuple[R, ...]]] = field(default_factory=list)
    # (error, route): route None when it failed before any route was chosen
    failures: list[tuple[DecodeError, R | None]] = field(default_factory=list)
    skipped: bool = False  # a tombstone, skipped by configuration


@dataclass(frozen=True, slots=True)
class SourcePlan(Generic[R]):
    source: SourceConfig
    shared: Decoder
    shared_routes: tuple[R, ...]
    overrides: tuple[tuple[Decoder, tuple[R, ...]], ...] = ()

    def read(self, event: Event) -> Reading[R]:
        """Decode ``event`` (in place for the shared view); never raises a DecodeError."""
        reading: Reading[R] = Reading()
        raw = event.raw_value
        if raw is None and self.source.tombstones == "skip":
            reading.skipped = True
            return reading
        limit = self.source.max_value_bytes
        if raw is not None and limit is not None and len(raw) > limit:
            error = ValueTooLargeError(f"value is {len(raw)} bytes, over the limit of {limit}")
            reading.failures.append((error, None))
            return reading
        if self.shared_routes:
            try:
                event.value, event.key_text = self.shared.decode(event)
                reading.views.append((event, self.shared_routes))
            except DecodeError as exc:
                reading.failures.append((exc, None))
        for decoder, routes in self.overrides:
            try:
                value, key_text = decoder.decode(event)
                reading.views.append(
                    (dataclasses.replace(event, value=value, key_text=key_text), routes)
                )
            except DecodeError as exc:
                reading.failures.extend((exc, route) for route in routes)
        return reading


class Decoders:
    """Builds each distinct decoder once; plans per topic are made on first use."""

    def __init__(
        self,
        sources: Mapping[str, SourceConfig] | None = None,
        registry: SchemaRegistryConfig | None = None,
    ) -> None:
        self._sources = dict(sources or {})
        self._registry = registry
        self._values: dict[ValueFormat | KeyFormat, ReadBytes] = {}
        self._decoders: dict[tuple[ValueFormat, KeyFormat], Decoder] = {}

    def source(self, topic: str) -> SourceConfig:
        found = self._sources.get(topic) or self._sources.get("*")
        return found if found is not None else SourceConfig()

    def decoder(self, value: ValueFormat, key: KeyFormat) -> Decoder:
        found = self._decoders.get((value, key))
        if found is None:
            key_reader = None if isinstance(key, StringFormat) else self._reader(key)
            found = self._decoders[(value, key)] = Decoder(self._reader(value), key_reader)
        return found

    def plan(self, topic: str, routes: Sequence[R]) -> SourcePlan[R]:
        source = self.source(topic)
        shared = self.decoder(source.value, source.key)
        groups: dict[Decoder, list[R]] = {shared: []}
        for route in routes:
            config = route.config
            decoder = self.decoder(
                config.value_format or source.value, config.key_format or source.key
            )
            groups.setdefault(decoder, []).append(route)
        overrides = tuple((d, tuple(rs)) for d, rs in groups.items() if d is not shared)
        return SourcePlan(source, shared, tuple(groups[shared]), overrides)

    def _reader(self, fmt: ValueFormat | KeyFormat) -> ReadBytes:
        found = self._values.get(fmt)
        if found is None:
            found = self._values[fmt] = self._build(fmt)
        return found

    def _build(self, fmt: ValueFormat | KeyFormat) -> ReadBytes:
        if isinstance(fmt, JsonFormat):
            return decode_json
        if isinstance(fmt, AvroFormat):
            writer = load_avsc(fmt.schema_file, fmt.references)
            reader = load_avsc(fmt.reader_schema) if fmt.reader_schema else None
            return AvroDecoder(writer, reader)
        if isinstance(fmt, RegistryAvroFormat):
            # imported here: the registry client (confluent_kafka.schema_registry, httpx,
            # authlib) costs 0.2 s to import, and only this format needs it
            from kafkahooks.decode.registry import RegistryAvroDecoder, registry_client

            if self._registry is None:
                raise ValueError("format avro-registry needs a schema_registry section")
            reader = load_avsc(fmt.reader_schema) if fmt.reader_schema else None
            client = registry_client(self._registry)
            return RegistryAvroDecoder(client, reader, self._registry.unknown_id_ttl)
        raise ValueError(f"{fmt.format!r} is a key format only")
