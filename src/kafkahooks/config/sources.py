"""How source records are read, and when reading them must stop.

* ``sources``: per source topic (``"*"``: every other topic), the value and
  key formats, the value size limit and what to do with tombstones::

      sources:
        calls.status:
          value: {format: avro, schema: schemas/outrival/server-event.avsc}
          key: string
          max_value_bytes: 262144
        meetings:
          value: {format: avro-registry, reader_schema: schemas/avoma/meeting-event.avsc}

* ``schema_registry``: where ``avro-registry`` schemas are fetched (basic auth optional).
* ``dead_letter_limit``: when dead letters are a symptom of a bad deploy rather
  than of bad events, stop instead of dead-lettering a whole topic.

A route may override a topic's formats (``value_format`` / ``key_format``);
only such a route pays for a second decode.  Relative schema paths are
resolved against the routes file's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "AvroFormat",
    "DeadLetterLimitConfig",
    "JsonFormat",
    "KeyFormat",
    "RegistryAvroFormat",
    "SchemaRegistryConfig",
    "SourceConfig",
    "StringFormat",
    "ValueFormat",
    "needs_registry",
]

# librdkafka's default message.max.bytes is 1,000,000: keep room for the
# dead-letter headers so a dead-letter write can never fail on size.
DEFAULT_MAX_VALUE_BYTES = 900_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _resolve(path: str, info: ValidationInfo) -> str:
    base = (info.context or {}).get("base_dir")
    if base is None or Path(path).is_absolute():
        return path
    return str(Path(base) / path)


class JsonFormat(_Strict):
    format: Literal["json"] = "json"


class StringFormat(_Strict):
    """Keys only: the bytes as UTF-8 text (the default)."""

    format: Literal["string"] = "string"


class AvroFormat(_Strict):
    """Schemaless Avro written with the schema in ``schema`` (an ``.avsc`` file)."""

    format: Literal["avro"] = "avro"
    schema_file: str = Field(alias="schema", min_length=1)
    # files defining named types the schema uses, dependencies first
    references: tuple[str, ...] = ()
    reader_schema: str | None = None

    @field_validator("schema_file", "reader_schema")
    @classmethod
    def _relative_to_config(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _resolve(value, info)

    @field_validator("references")
    @classmethod
    def _references_relative(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return tuple(_resolve(v, info) for v in value)


class RegistryAvroFormat(_Strict):
    """Confluent wire format: magic byte 0, 4-byte schema id, Avro body."""

    format: Literal["avro-registry"] = "avro-registry"
    # read every writer version into this schema (schema evolution)
    reader_schema: str | None = None

    @field_validator("reader_schema")
    @classmethod
    def _relative_to_config(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _resolve(value, info)


def _shorthand(data: Any) -> Any:
    """``value: json`` means ``value: {format: json}``."""
    return {"format": data} if isinstance(data, str) else data


_FORMAT = Field(discriminator="format")
_SHORT = BeforeValidator(_shorthand)
ValueFormat = Annotated[JsonFormat | AvroFormat | RegistryAvroFormat, _FORMAT, _SHORT]
KeyFormat = Annotated[StringFormat | JsonFormat | AvroFormat | RegistryAvroFormat, _FORMAT, _SHORT]


class SourceConfig(_Strict):
    value: ValueFormat = Field(default_factory=JsonFormat)
    key: KeyFormat = Field(default_factory=StringFormat)
    # bigger values are dead-lettered without their body (null: no limit)
    max_value_bytes: int | None = Field(default=DEFAULT_MAX_VALUE_BYTES, ge=1)
    # null values: finish them silently, or hand them to routes with value null
    tombstones: Literal["skip", "deliver"] = "skip"


class SchemaRegistryConfig(_Strict):
    url: str = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(default=10.0, gt=0, le=300)
    max_retries: int = Field(default=2, ge=0, le=10)
    # a fresh fetch for an id the registry did not know, at most this often
    unknown_id_ttl: float = Field(default=30.0, ge=0)
    ca_location: str | None = None

    @field_validator("url")
    @classmethod
    def _no_userinfo(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "mock://")):
            raise ValueError(f"must start with http://, https:// or mock:// (got {value!r})")
        if value.startswith("http") and urlsplit(value).password is not None:
            raise ValueError("put registry credentials in username/password, not in the URL")
        return value

    @model_validator(mode="after")
    def _both_or_neither(self) -> SchemaRegistryConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password")
        return self


class DeadLetterLimitConfig(_Strict):
    """Per partition: stop when more than ``max_consecutive`` dead letters come in a row,
    or more than ``max_ratio`` of the last ``window`` outcomes are dead letters.
    ``enabled: false`` dead-letters without limit."""

    enabled: bool = True
    max_consecutive: int | None = Field(default=100, ge=0)
    max_ratio: float | None = Field(default=0.5, ge=0, le=1)
    window: int = Field(default=1000, ge=1)


def needs_registry(formats: list[object]) -> bool:
    return any(isinstance(f, RegistryAvroFormat) for f in formats)
