"""The wire form of an endpoint in the store: one JSON record per key ``ep_…``.

Plain: the id, tenant, the URL's origin (``scheme://host[:port]``), event types,
routes, filters, headers, limits, metadata, times and ``revision`` (the store offset
of the record this one replaces; -1 for a create).  Sealed (``endpoints/crypto.py``):
the rest of the URL (path and query), every signing secret and every secret header
value, each bound to the record id, its field name (``target``, ``secret``,
``secret_headers.<name in lower case>``) and the tenant, and the URL's rest also to
the origin: editing a plain tenant or origin makes the record fail to decrypt.

Versioning: ``version`` is ``"1.<minor>"``; fields this code does not know are
ignored within major version 1, another major version is refused (``version``).
The JSON Schema of the record is ``schemas/endpoint-record.schema.json``, generated
from :data:`RECORD_ADAPTER` (a unit test keeps the file in step).
Invariant: the bytes :func:`encode_endpoint` writes hold no secret, no header
secret and no URL path or query in clear.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired
from urllib.parse import urlsplit

import orjson
from pydantic import ConfigDict, Field, SecretStr, TypeAdapter, with_config
from typing_extensions import TypedDict

from kafkahooks.config import Predicate
from kafkahooks.endpoints.crypto import Keyring, Sealed
from kafkahooks.endpoints.endpoint import Endpoint, SigningSecret
from kafkahooks.endpoints.errors import EndpointLimitError, StoreRecordError
from kafkahooks.endpoints.storejson import validated

__all__ = [
    "MAX_RECORD_BYTES",
    "RECORD_ADAPTER",
    "RECORD_VERSION",
    "EndpointRecord",
    "decode_endpoint",
    "encode_endpoint",
    "open_record",
    "parse_record",
    "record_json_schema",
    "record_kids",
    "split_url",
]

RECORD_VERSION = "1.0"
MAX_RECORD_BYTES = 64 * 1024
_EMPTY: Mapping[str, Any] = {}  # shared by every endpoint without headers/metadata; never mutated
_ANY_TYPE = ("*",)


@with_config(ConfigDict(extra="ignore"))
class SecretRecord(TypedDict):
    value: Sealed
    expires: float | None  # Unix seconds; null for the current secret


@with_config(ConfigDict(extra="ignore", title="kafkahooks endpoint store record"))
class EndpointRecord(TypedDict):
    kind: Literal["endpoint"]
    version: Annotated[str, Field(pattern=r"^1\.[0-9]+$")]
    id: str
    tenant: Annotated[str, Field(min_length=1, pattern=r"^[^\x00-\x1f\x7f]+$")]
    origin: str  # scheme://host[:port], as written in the URL
    target: Sealed  # the rest of the URL: path and query
    secrets: Annotated[list[SecretRecord], Field(min_length=1)]
    revision: Annotated[int, Field(ge=-1)]
    created: float
    updated: float
    description: NotRequired[str]
    event_types: NotRequired[list[str]]
    routes: NotRequired[list[str] | None]
    filters: NotRequired[list[Predicate]]
    active: NotRequired[bool]
    payload_version: NotRequired[str | None]
    headers: NotRequired[dict[str, str]]
    secret_headers: NotRequired[dict[str, Sealed]]
    rate_limit: NotRequired[float | None]
    metadata: NotRequired[dict[str, str]]


RECORD_ADAPTER: TypeAdapter[EndpointRecord] = TypeAdapter(EndpointRecord)


def record_json_schema() -> dict[str, Any]:
    """The JSON Schema of a record (``schemas/endpoint-record.schema.json`` is this)."""
    schema = RECORD_ADAPTER.json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": (
            "One customer endpoint in the kafkahooks store topic (key: the id, ep_<ULID>). "
            "Sealed values are AES-256-GCM under the key id they name, with associated "
            "data binding the id and the field. Fields not listed are ignored within "
            "major version 1."
        ),
        **schema,
    }


def split_url(url: str) -> tuple[str, str]:
    """``(origin as written, rest)``: ``origin + rest == url``."""
    parts = urlsplit(url)
    cut = len(parts.scheme) + 3 + len(parts.netloc)
    return url[:cut], url[cut:]


# The field name each sealed value is bound to (with the record id, by the keyring).
# Each also binds the tenant, and the URL's rest binds the origin: a writer without a
# key cannot point a record's sealed path, credentials or secrets at another host or
# another tenant by editing the plain fields (the record then fails with "decrypt").
def _target_field(tenant: str, origin: str) -> str:
    return f"target\x00{tenant}\x00{origin}"


def _secret_field(tenant: str) -> str:
    return f"secret\x00{tenant}"


def _secret_header_field(tenant: str, name: str) -> str:
    return f"secret_headers.{name.lower()}\x00{tenant}"


def encode_endpoint(ep: Endpoint, keyring: Keyring, revision: int, now: float) -> bytes:
    """The record for ``ep`` replacing the store's record at offset ``revision`` (-1:
    a create).  Previous secrets expired at ``now`` are dropped.  A record over
    :data:`MAX_RECORD_BYTES` is refused with :class:`EndpointLimitError`."""
    origin, rest = split_url(ep.url)
    seal, secret_field = keyring.seal, _secret_field(ep.tenant)
    record: dict[str, Any] = {
        "kind": "endpoint",
        "version": RECORD_VERSION,
        "id": ep.id,
        "tenant": ep.tenant,
        "origin": origin,
        "target": seal(ep.id, _target_field(ep.tenant, origin), rest),
        "description": ep.description,
        "event_types": list(ep.event_types),
        "routes": None if ep.routes is None else list(ep.routes),
        "filters": [
            p.model_dump(mode="json", by_alias=True, exclude_unset=True) for p in ep.filters
        ],
        "active": ep.active,
        "payload_version": ep.payload_version,
        "headers": dict(ep.headers),
        "secret_headers": {
            name: seal(ep.id, _secret_header_field(ep.tenant, name), value.get_secret_value())
            for name, value in ep.secret_headers.items()
        },
        "secrets": [
            {"value": seal(ep.id, secret_field, s.value.get_secret_value()), "expires": s.expires}
            for s in ep.secrets
            if s.expires is None or s.expires > now
        ],
        "rate_limit": ep.rate_limit,
        "metadata": dict(ep.metadata),
        "created": ep.created,
        "updated": ep.updated,
        "revision": revision,
    }
    data = orjson.dumps(record)
    if len(data) > MAX_RECORD_BYTES:
        raise EndpointLimitError(
            f"endpoint {ep.id}: the record is {len(data):,} bytes; the limit is 64 KiB "
            f"({MAX_RECORD_BYTES:,} bytes) per record"
        )
    return data


def parse_record(key: str, value: bytes) -> EndpointRecord:
    """Check a record's JSON, version and shape (no decryption): the plain fields the
    store's conflict rule needs.  ``StoreRecordError`` names what is wrong."""
    record = validated(key, value, RECORD_ADAPTER)
    if record["id"] != key:
        raise StoreRecordError("key-mismatch", f"{key}: the record's id differs")
    return record


def record_kids(record: EndpointRecord) -> tuple[str, ...]:
    """The key ids a record's sealed fields use (sorted, usually one)."""
    kids = [record["target"]["kid"]]
    kids += [s["value"]["kid"] for s in record["secrets"]]
    kids += [v["kid"] for v in record.get("secret_headers", _EMPTY).values()]
    if kids.count(kids[0]) == len(kids):  # the usual case: one key for the whole record
        return (kids[0],)
    return tuple(sorted(set(kids)))


# Event-type and route lists repeat across endpoints: one shared tuple per distinct list
# (bounded, so that many distinct lists cannot grow it without end).
_SHARED: dict[tuple[str, ...], tuple[str, ...]] = {("*",): _ANY_TYPE}
_SHARED_MAX = 10_000


def _tuple(values: list[str]) -> tuple[str, ...]:
    key = tuple(values)
    shared = _SHARED.get(key)
    if shared is None:
        shared = tuple(sys.intern(v) for v in values)
        if len(_SHARED) < _SHARED_MAX:
            _SHARED[shared] = shared
    return shared


def open_record(record: EndpointRecord, offset: int, keyring: Keyring) -> Endpoint:
    """The decrypted :class:`Endpoint` of a parsed record read at ``offset``;
    ``MissingKeyError`` or ``StoreRecordError("decrypt")`` when a field will not open."""
    rid = record["id"]
    open_ = keyring.open
    tenant, origin = record["tenant"], record["origin"]
    url = origin + open_(rid, _target_field(tenant, origin), record["target"])
    secret_field = _secret_field(tenant)
    secrets = tuple(
        SigningSecret(SecretStr(open_(rid, secret_field, s["value"])), s["expires"])
        for s in record["secrets"]
    )
    sealed_headers = record.get("secret_headers")
    secret_headers: Mapping[str, SecretStr] = (
        {
            sys.intern(name): SecretStr(open_(rid, _secret_header_field(tenant, name), value))
            for name, value in sealed_headers.items()
        }
        if sealed_headers
        else _EMPTY
    )
    headers = record.get("headers")
    metadata = record.get("metadata")
    routes = record.get("routes")
    created = record["created"]
    return Endpoint(
        id=rid,
        tenant=sys.intern(tenant),
        url=url,
        secrets=secrets,
        description=record.get("description", ""),
        event_types=_tuple(record.get("event_types", ["*"])),
        routes=None if routes is None else _tuple(routes),
        filters=tuple(record.get("filters", ())),
        active=record.get("active", True),
        payload_version=record.get("payload_version"),
        headers={sys.intern(k): v for k, v in headers.items()} if headers else _EMPTY,
        secret_headers=secret_headers,
        rate_limit=record.get("rate_limit"),
        metadata=metadata if metadata else _EMPTY,
        created=created,
        updated=created if record["updated"] == created else record["updated"],  # one float
        offset=offset,
    )


def decode_endpoint(key: str, value: bytes, offset: int, keyring: Keyring) -> tuple[Endpoint, int]:
    """The endpoint a record holds (its ``offset`` set) and the record's ``revision``.
    Raises ``StoreRecordError(reason)`` or ``MissingKeyError``."""
    record = parse_record(key, value)
    return open_record(record, offset, keyring), record["revision"]
