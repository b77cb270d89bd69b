"""What a create or an update may say about an endpoint, and the changes themselves.

:class:`EndpointSpec` is the input of ``kafkahooks endpoints create|update`` (and of
the HTTP API later): every limit of the store is checked here and named when it is
exceeded.  The functions return a new immutable :class:`Endpoint`; writing it to the
store (``records.encode_endpoint`` with the revision it replaces) is the caller's.

URL rule at write: a target URL (``check_target_url``), ``https://`` and no literal
non-public address unless the process-wide allow-local switch (``allow_local``) is
on.  Names are resolved and every address is checked again by the transport guard
at each connect, so this check is the early refusal, not the only one.
Invariant: the tenant and the id of an endpoint never change.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kafkahooks.config import (
    MASK,
    RESERVED_HEADERS,
    SIGNATURE_HEADERS,
    Predicate,
    check_static_headers,
    check_target_url,
    shown_url,
)
from kafkahooks.endpoints.endpoint import Endpoint, SigningSecret
from kafkahooks.endpoints.errors import EndpointLimitError
from kafkahooks.endpoints.ids import new_endpoint_id
from kafkahooks.templating import TemplateSyntaxError, compile_path

__all__ = [
    "ENDPOINT_HEADERS_REFUSED",
    "LIMITS",
    "EndpointSpec",
    "check_endpoint_url",
    "create_endpoint",
    "describe_endpoint",
    "endpoint_health",
    "new_signing_secret",
    "rotate_secret",
    "set_active",
    "spec_of",
    "update_endpoint",
]

# The store's limits.  The endpoints per tenant are the writer's to count (a setting;
# this is its default); the others are checked here, the record size by the encoder.
LIMITS: Mapping[str, int] = {
    "endpoints_per_tenant": 50,
    "description_bytes": 1024,
    "metadata_bytes": 4096,
    "metadata_keys": 50,
    "headers": 20,
    "predicates": 10,
    "event_types": 100,
    "secrets": 5,
}
# A tenant may set Authorization (its receiver's credential) but no header kafkahooks,
# a signature scheme or the HTTP transport sets.
ENDPOINT_HEADERS_REFUSED = (RESERVED_HEADERS - {"authorization"}) | SIGNATURE_HEADERS
_TEXT_MAX = 256  # a tenant, an event type, a route name, a metadata key
_SECRET_MAX = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_UNCHANGEABLE = ("id", "tenant", "secrets", "created", "updated", "offset", "revision")


def _limit(what: str, size: int, limit: int, unit: str = "") -> ValueError:
    return ValueError(f"{what} is {size:,}{unit}; the limit is {limit:,}{unit}")


def _short_text(value: str, what: str) -> str:
    if not value or len(value) > _TEXT_MAX or _CONTROL.search(value):
        raise ValueError(f"{what} must be 1-{_TEXT_MAX} characters without control characters")
    return value


def check_endpoint_url(url: str, allow_local: bool) -> str:
    """``url`` if a tenant endpoint may target it (module docstring); ``ValueError``
    naming the problem, never repeating the URL."""
    check_target_url(url)
    if allow_local:
        return url
    if not url.lower().startswith("https://"):
        raise ValueError("must be https:// (plain http needs KAFKAHOOKS_ALLOW_LOCAL_TARGETS)")
    host = urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return url  # a name: checked on every address it resolves to, at connect
    if not address.is_global:
        raise ValueError(
            "names a non-public address (allowed only with KAFKAHOOKS_ALLOW_LOCAL_TARGETS)"
        )
    return url


class EndpointSpec(BaseModel):
    """A tenant endpoint as a create says it (an update is a merge patch onto one).

    Validate with :meth:`parse` to pass the allow-local switch; direct construction
    applies the strict rule (https, public addresses)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: str = Field(min_length=1)
    description: str = ""
    event_types: list[str] = Field(default_factory=lambda: ["*"])
    routes: list[str] | None = None
    filters: list[Predicate] = Field(default_factory=list)
    active: bool = True
    payload_version: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    secret_headers: dict[str, SecretStr] = Field(default_factory=dict)
    rate_limit: float | None = Field(default=None, gt=0)
    metadata: dict[str, str] = Field(default_factory=dict)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """URL path and query masked, header values hidden: a spec may be logged."""
        for name, value in super().__repr_args__():
            if name == "url":
                value = shown_url(value)
            elif name == "headers":
                value = dict.fromkeys(value, MASK)
            yield name, value

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, allow_local: bool = False) -> EndpointSpec:
        """Validate ``data``; ``allow_local``: the KAFKAHOOKS_ALLOW_LOCAL_TARGETS switch."""
        return cls.model_validate(data, context={"allow_local": allow_local})

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        allow_local = bool((info.context or {}).get("allow_local", False))
        return check_endpoint_url(value, allow_local)

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        size, limit = len(value.encode("utf-8")), LIMITS["description_bytes"]
        if size > limit:
            raise _limit("the description", size, limit, " bytes")
        return value

    @field_validator("event_types")
    @classmethod
    def _event_types(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError('give at least one event type (["*"]: every type)')
        if len(value) > LIMITS["event_types"]:
            raise _limit("the number of event types", len(value), LIMITS["event_types"])
        if "*" in value and len(value) > 1:
            raise ValueError('"*" (every type) stands alone')
        return list(dict.fromkeys(_short_text(v, "an event type") for v in value))

    @field_validator("routes")
    @classmethod
    def _routes(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("routes: give at least one route name, or null for every route")
            value = list(dict.fromkeys(_short_text(v, "a route name") for v in value))
        return value

    @field_validator("filters")
    @classmethod
    def _filters(cls, value: list[Predicate]) -> list[Predicate]:
        if len(value) > LIMITS["predicates"]:
            raise _limit("the number of filter predicates", len(value), LIMITS["predicates"])
        for predicate in value:
            try:
                compile_path(predicate.field)
            except TemplateSyntaxError as exc:
                raise ValueError(f"filter field: {exc}") from None
        return value

    @field_validator("payload_version")
    @classmethod
    def _payload_version(cls, value: str | None) -> str | None:
        return None if value is None else _short_text(value, "payload_version")

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > LIMITS["metadata_keys"]:
            raise _limit("the number of metadata keys", len(value), LIMITS["metadata_keys"])
        size, limit = len(orjson.dumps(value)), LIMITS["metadata_bytes"]
        if size > limit:
            raise _limit("the metadata (as JSON)", size, limit, " bytes")
        for key in value:
            _short_text(key, "a metadata key")
        return value

    @model_validator(mode="after")
    def _headers(self) -> EndpointSpec:
        count = len(self.headers) + len(self.secret_headers)
        if count > LIMITS["headers"]:
            raise _limit(
                "the number of headers (headers + secret_headers)", count, LIMITS["headers"]
            )
        both = {**self.headers, **{k: v.get_secret_value() for k, v in self.secret_headers.items()}}
        if len(both) != count:
            raise ValueError("a header is in both headers and secret_headers")
        check_static_headers(both, ENDPOINT_HEADERS_REFUSED)
        return self


def new_signing_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(os.urandom(24)).decode("ascii")


def _check_secret(secret: str) -> str:
    if not secret or len(secret) > _SECRET_MAX or _CONTROL.search(secret):
        raise ValueError(
            f"a signing secret must be 1-{_SECRET_MAX} characters without "
            "line breaks or control characters"
        )
    if secret.startswith("whsec_"):
        try:
            if not base64.b64decode(secret[6:], validate=True):
                raise ValueError("empty")
        except (binascii.Error, ValueError):
            raise ValueError("a whsec_ signing secret must be whsec_ + base64") from None
    return secret


def _check_tenant(tenant: str) -> str:
    return _short_text(tenant, "the tenant")


def _from_spec(spec: EndpointSpec, base: Endpoint) -> Endpoint:
    return replace(
        base,
        url=spec.url,
        description=spec.description,
        event_types=tuple(sys.intern(t) for t in spec.event_types),
        routes=None if spec.routes is None else tuple(spec.routes),
        filters=tuple(spec.filters),
        active=spec.active,
        payload_version=spec.payload_version,
        headers=dict(spec.headers),
        secret_headers=dict(spec.secret_headers),
        rate_limit=spec.rate_limit,
        metadata=dict(spec.metadata),
    )


def create_endpoint(
    spec: EndpointSpec, tenant: str, *, secret: str | None = None, now: float
) -> Endpoint:
    """A new endpoint (new id; ``secret``, or a new one from :func:`new_signing_secret`).
    Its ``offset`` is -1: write it with revision -1."""
    value = _check_secret(secret) if secret is not None else new_signing_secret()
    base = Endpoint(
        id=new_endpoint_id(),
        tenant=_check_tenant(tenant),
        url=spec.url,
        secrets=(SigningSecret(SecretStr(value)),),
        created=now,
        updated=now,
    )
    return _from_spec(spec, base)


def describe_endpoint(ep: Endpoint, now: float) -> dict[str, Any]:
    """``ep`` as ``list``/``get`` may print it: the URL with its path and query masked,
    secret header names without values, secrets as their count and expiries only."""
    return {
        "id": ep.id,
        "tenant": ep.tenant,
        "url": shown_url(ep.url),
        "origin": ep.origin,
        "description": ep.description,
        "event_types": list(ep.event_types),
        "routes": None if ep.routes is None else list(ep.routes),
        "filters": [
            p.model_dump(mode="json", by_alias=True, exclude_unset=True) for p in ep.filters
        ],
        "active": ep.active,
        # the effective state: active and not disabled by kafkahooks (auto-disable)
        "enabled": ep.enabled,
        **endpoint_health(ep),
        "payload_version": ep.payload_version,
        "headers": sorted(ep.headers),
        "secret_headers": sorted(ep.secret_headers),
        "secrets": [
            {"expires": s.expires} for s in ep.secrets if s.expires is None or s.expires > now
        ],
        "rate_limit": ep.rate_limit,
        "metadata": dict(ep.metadata),
        "created": ep.created,
        "updated": ep.updated,
        "offset": ep.offset,  # the revision an update of this version must name
    }


def endpoint_health(ep: Endpoint) -> dict[str, Any]:
    """What kafkahooks' status record says about this version of ``ep``: the start of
    its failures without a success, and its disable (why, when)."""
    status = ep.status
    disabled = status.disabled if status is not None else None
    return {
        "failing_since": status.failing_since if status is not None else None,
        "disabled_by_kafkahooks": None
        if disabled is None
        else {"reason": disabled.reason, "detail": disabled.detail, "at": disabled.at},
    }


def spec_of(ep: Endpoint) -> dict[str, Any]:
    """The spec fields of ``ep`` as plain data (secret header values in clear: for
    merging an update, never for printing)."""
    return {
        "url": ep.url,
        "description": ep.description,
        "event_types": list(ep.event_types),
        "routes": None if ep.routes is None else list(ep.routes),
        "filters": [p.model_dump(by_alias=True, exclude_unset=True) for p in ep.filters],
        "active": ep.active,
        "payload_version": ep.payload_version,
        "headers": dict(ep.headers),
        "secret_headers": {k: v.get_secret_value() for k, v in ep.secret_headers.items()},
        "rate_limit": ep.rate_limit,
        "metadata": dict(ep.metadata),
    }


def _merge_headers(current: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Merge-patch a header map, names compared case-insensitively."""
    merged = dict(current)
    for name, value in patch.items():
        for old in [k for k in merged if k.lower() == str(name).lower()]:
            del merged[old]
        if value is not None:
            merged[name] = value
    return merged


def _merge(current: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON merge patch onto ``current`` (null removes or resets a field)."""
    merged = dict(current)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        elif name in ("headers", "secret_headers") and isinstance(value, Mapping):
            merged[name] = _merge_headers(merged.get(name) or {}, value)
        elif name == "metadata" and isinstance(value, Mapping):
            merged[name] = {
                k: v for k, v in {**(merged.get(name) or {}), **value}.items() if v is not None
            }
        else:
            merged[name] = value
    return merged


def update_endpoint(
    ep: Endpoint, changes: Mapping[str, Any], now: float, *, allow_local: bool = False
) -> Endpoint:
    """``ep`` with ``changes`` applied as a JSON merge patch (a key set to null is reset
    to its default or removed; header and metadata maps merge per name); every limit
    is checked again.  The id, tenant, secrets and creation time never change here."""
    fixed = sorted(set(changes).intersection(_UNCHANGEABLE))
    if fixed:
        raise ValueError(
            f"{fixed} cannot be changed by an update (the tenant and id never "
            "change; secrets change with rotate-secret)"
        )
    spec = EndpointSpec.parse(_merge(spec_of(ep), changes), allow_local=allow_local)
    return replace(_from_spec(spec, ep), updated=now)


def rotate_secret(
    ep: Endpoint,
    now: float,
    *,
    new_secret: str | None = None,
    previous_valid_for: float = 86400.0,
) -> tuple[Endpoint, str]:
    """``ep`` with a new current secret, and that secret (to show once).  The previous
    current secret stays valid for ``previous_valid_for`` seconds (0: expires now, and
    so do all older ones: a leaked secret)."""
    if previous_valid_for < 0:
        raise ValueError("previous_valid_for must be >= 0 (0: expire the previous secret now)")
    value = _check_secret(new_secret) if new_secret is not None else new_signing_secret()
    kept: list[SigningSecret] = []
    if previous_valid_for > 0:
        current = ep.secrets[0]
        kept.append(SigningSecret(current.value, now + previous_valid_for))
        kept += [s for s in ep.secrets[1:] if s.expires is not None and s.expires > now]
    if 1 + len(kept) > LIMITS["secrets"]:
        raise EndpointLimitError(
            f"endpoint {ep.id}: {1 + len(kept)} signing secrets would be valid; the limit is "
            f"{LIMITS['secrets']} (expire the previous ones now, or wait for them to expire)"
        )
    secrets = (SigningSecret(SecretStr(value)), *kept)
    return replace(ep, secrets=secrets, updated=now), value


def set_active(ep: Endpoint, active: bool, now: float) -> Endpoint:
    """``ep`` enabled or disabled (an unchanged state still gets a new ``updated``)."""
    return replace(ep, active=active, updated=now)
