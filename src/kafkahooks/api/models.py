"""The API's request and response shapes (pydantic: they are the OpenAPI schemas too).

A create's body is the store's own :class:`~kafkahooks.endpoints.EndpointSpec` (one
model, one set of limits for the CLI and the API); a PATCH is a JSON merge patch onto
it.  Responses show an endpoint as :func:`endpoint_view` makes it.
Invariant: no response model has a field for a secret header's value or a signing
secret, except the one-time reveals (``EndpointCreated``, ``SecretRotated``,
``TokenCreated``) and the admin-only ``EndpointSecrets``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kafkahooks.endpoints import Endpoint, describe_endpoint

__all__ = [
    "AttemptsAnswer",
    "EndpointCreated",
    "EndpointPage",
    "EndpointSecrets",
    "EndpointView",
    "ErrorBody",
    "EventType",
    "RecoverRequest",
    "RecoverView",
    "RotateRequest",
    "SecretRotated",
    "StatsAnswer",
    "TestSend",
    "TestSent",
    "TokenCreate",
    "TokenCreated",
    "TokenView",
    "endpoint_view",
]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class DisabledByKafkahooks(_Out):
    reason: str = Field(description="gone (it answered 410) or failing (no success for long)")
    at: float
    detail: str


class EndpointView(_Out):
    """An endpoint as the API shows it: the URL's path and query masked (they may carry
    credentials), secret header names without values, secrets as their expiries."""

    id: str
    tenant: str
    url: str = Field(description="path and query masked")
    origin: str
    description: str
    event_types: list[str]
    routes: list[str] | None
    filters: list[dict[str, Any]]
    active: bool = Field(description="the tenant's switch")
    enabled: bool = Field(description="the effective state: active and not disabled by kafkahooks")
    disabled_by_kafkahooks: DisabledByKafkahooks | None = Field(
        description="why and when kafkahooks disabled this version (null: it did not); "
        "any write of the endpoint (e.g. active: true) re-enables it"
    )
    failing_since: float | None = Field(
        description="the first failure after the last success (null: not failing)"
    )
    payload_version: str | None
    headers: dict[str, str]
    secret_headers: list[str] = Field(description="names only: values are write-only")
    secrets: list[dict[str, float | None]] = Field(
        description="the valid signing secrets' expiries (null: the current one)"
    )
    rate_limit: float | None
    metadata: dict[str, str]
    created: float
    updated: float
    offset: int = Field(description="the store offset of this version (also its ETag)")


def endpoint_view(ep: Endpoint, now: float) -> dict[str, Any]:
    """The API's view: the CLI's (``describe_endpoint``: no secret, URL path masked)
    with the plain headers' values, which the tenant set and may read back."""
    return {**describe_endpoint(ep, now), "headers": dict(ep.headers)}


class EndpointCreated(EndpointView):
    signing_secret: str = Field(description="shown this once")


class EndpointPage(_Out):
    data: list[EndpointView]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class RotateRequest(_In):
    expire_previous: float | str = Field(
        default=86400.0,
        description='how long the previous secret still signs: "now", seconds, or "24h"',
    )

    @field_validator("expire_previous")
    @classmethod
    def _seconds(cls, value: float | str) -> float:
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "now":
                return 0.0
            match = _DURATION.fullmatch(text)
            if match is None:
                raise ValueError('give "now", seconds, or N followed by s|m|h|d')
            value = float(match.group(1)) * _UNITS[match.group(2)]
        if not 0 <= value <= 30 * 86400:
            raise ValueError("give 0 (now) to 30 days")
        return float(value)

    @property
    def seconds(self) -> float:
        assert isinstance(self.expire_previous, float)
        return self.expire_previous


class SecretRotated(_Out):
    endpoint: EndpointView
    signing_secret: str = Field(description="the new secret, shown this once")
    previous_expires: float | None = Field(
        description="when the previous secret stops signing (null: it expired now)"
    )


class SecretView(_Out):
    signing_secret: str
    expires: float | None


class EndpointSecrets(_Out):
    secrets: list[SecretView] = Field(description="the current one first")


class TokenCreate(_In):
    description: str = Field(default="", max_length=256)
    expires_in: float | None = Field(
        default=None, gt=0, le=5 * 365 * 86400, description="seconds; null: never"
    )


class TokenView(_Out):
    id: str
    tenant: str
    description: str
    created: float
    expires: float | None
    revoked: float | None


class TokenCreated(TokenView):
    token: str = Field(description="kht_<id>_<secret>: shown this once")


class EventType(_Out):
    type: str
    route: str
    description: str
    sample: Any = Field(description="the payload a sample event of this type renders to")


class AttemptView(_Out):
    at: float = Field(description="unix seconds")
    event_id: str
    event_type: str | None
    attempt: int = Field(description="1: the first try")
    status: int | None = Field(description="null: no response (timeout, refused, not sent)")
    latency_ms: float
    error: str | None = Field(description="null: delivered (2xx)")


class AttemptsAnswer(_Out):
    data: list[AttemptView] = Field(description="newest first")
    complete: bool = Field(description="false: a log read ran out of time; older may be missing")
    source: Literal["memory", "log"]


class LatencyView(_Out):
    estimate_ms: float = Field(description="the geometric middle of the bucket")
    low_ms: float
    high_ms: float | None = Field(description="null: the open last bucket")


class StatsAnswer(_Out):
    endpoint_id: str
    since: float = Field(description="the start of the oldest UTC hour counted")
    until: float
    attempts: int
    deliveries: int = Field(description="attempts answered 2xx")
    failures: int
    p50: LatencyView | None = Field(description="a bucket estimate (see method)")
    p99: LatencyView | None = Field(description="a bucket estimate (see method)")
    method: str = Field(description="how the latencies are estimated")


class TestSend(_In):
    event_type: str | None = Field(
        default=None, max_length=256,
        description="the sample's type (default: the endpoint's first, or the route's first)",
    )  # fmt: skip


class TestSent(_Out):
    event_id: str = Field(description="evt_test_…: the webhook-id sent")
    event_type: str | None
    route: str
    status: int | None = Field(description="null: no answer (refused, timeout, …)")
    latency_ms: float | None
    response_excerpt: str | None = Field(description="the answer's start, escaped")
    error: str | None = Field(description='null: a 2xx answer; "not a public address": refused')


class RecoverRequest(_In):
    since: float = Field(description="unix seconds: dead letters written since then are re-sent")


class RecoverView(_Out):
    job: str
    endpoint_id: str
    state: Literal["requested", "running", "done", "failed"] = Field(
        description="requested: no bridge has claimed it yet"
    )
    since: float
    requested: float
    started: float | None
    finished: float | None
    scanned: int = Field(description="dead-letter records read")
    resent: int = Field(description="this endpoint's, sent again with their event ids")
    error: str | None


class ErrorDetail(_Out):
    status: int
    code: str
    message: str
    errors: list[dict[str, str]] | None = None


class ErrorBody(_Out):
    error: ErrorDetail


Action = Literal[
    "create",
    "update",
    "delete",
    "rotate",
    "recover",
    "issue-token",
    "revoke-token",
    "portal-session",
    "portal-open",
    "portal-end",
]
