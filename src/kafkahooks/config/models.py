"""Pydantic models of the routes file.

Every model forbids unknown keys, so a misspelt option is an error at start
rather than a silently ignored setting.  Secrets are ``SecretStr`` from the
moment they are parsed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from kafkahooks.config.throughput import BatchConfig, CircuitBreakerConfig, EndpointLimits

__all__ = [
    "EndpointConfig",
    "KafkaConfig",
    "RetryConfig",
    "RouteConfig",
    "RoutesFile",
    "SigningConfig",
]

Scalar = str | int | float | bool
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaConfig(_Strict):
    bootstrap_servers: str = Field(min_length=1)
    group_id: str = Field(default="kafkahooks", min_length=1)
    # Passed to librdkafka as they are: SASL, TLS, session timeouts, ...
    properties: dict[str, Scalar] = Field(default_factory=dict)
    # The dead-letter producer's own properties (default: the main cluster).
    dead_letter_properties: dict[str, Scalar] = Field(default_factory=dict)

    @field_validator("properties", "dead_letter_properties")
    @classmethod
    def _no_owned_keys(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        owned = {"enable.auto.commit", "enable.auto.offset.store", "group.id"}
        clash = owned.intersection(value)
        if clash:
            raise ValueError(f"{sorted(clash)} are set by kafkahooks and cannot be overridden")
        return value


class SigningConfig(_Strict):
    """HMAC-SHA256 over the exact body bytes that are sent.

    ``hmac-sha256``: signature of the body in ``header``.
    ``timestamped``: signature of ``"{timestamp}.{body}"`` plus ``timestamp_header``.
    ``standard-webhooks``: the Standard Webhooks headers (``webhook-*``).
    ``t-v1``: one header ``t=<ts>,v1=<sig>[,v1=<sig>]``.
    """

    scheme: Literal["hmac-sha256", "timestamped", "standard-webhooks", "t-v1"] = "hmac-sha256"
    secrets: list[SecretStr] = Field(min_length=1)
    header: str | None = None
    timestamp_header: str | None = None
    rotation_header: str | None = None
    encoding: Literal["hex", "base64"] | None = None
    prefix: str = ""

    @model_validator(mode="before")
    @classmethod
    def _secret_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "secret" in data:
            data = dict(data)
            if "secrets" in data:
                raise ValueError("give either 'secret' or 'secrets', not both")
            data["secrets"] = [data.pop("secret")]
        return data

    @field_validator("secrets")
    @classmethod
    def _non_empty(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            if not secret.get_secret_value():
                raise ValueError("a signing secret is empty (is its environment variable set?)")
        return value


class RetryConfig(_Strict):
    max_attempts: int = Field(default=5, ge=1, le=100)
    initial_backoff: float = Field(default=0.5, gt=0)
    max_backoff: float = Field(default=30.0, gt=0)
    multiplier: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.5, ge=0, description="max random seconds added")
    retry_after_cap: float = Field(default=60.0, ge=0)


class EndpointConfig(_Strict):
    url: str = Field(min_length=1)
    method: Literal["POST", "PUT", "PATCH", "GET"] = "POST"
    timeout: float = Field(default=30.0, gt=0, le=600)
    headers: dict[str, str] = Field(default_factory=dict)
    secret_headers: dict[str, SecretStr] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        return value


class RouteConfig(_Strict):
    name: Name
    description: str = ""
    active: bool = True
    topics: list[str] = Field(min_length=1)
    events: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    event_type: str = "value.event"
    template: Any = Field(default=None)
    on_missing: Literal["null", "omit", "fail"] = "null"
    payload_version: str = "v1"
    endpoint: EndpointConfig
    signing: SigningConfig | None = None
    retry: RetryConfig = Field(default_factory=RetryConfig)
    ordering: Literal["key", "partition", "none"] = "key"
    dead_letter_topic: str | None = None
    # throughput and isolation (config/throughput.py)
    batch: BatchConfig | None = None
    limits: EndpointLimits = Field(default_factory=EndpointLimits)
    circuit_breaker: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig)
    isolation: Literal["shared", "group"] = "shared"

    @field_validator("template")
    @classmethod
    def _template_present(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("a route needs a payload template (an object or list of fields)")
        return value

    def dead_letter_for(self, topic: str) -> str:
        return self.dead_letter_topic or f"{topic}.dlq"


class RoutesFile(_Strict):
    kafka: KafkaConfig
    routes: list[RouteConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> RoutesFile:
        seen: set[str] = set()
        for route in self.routes:
            if route.name in seen:
                raise ValueError(f"route name {route.name!r} is used twice")
            seen.add(route.name)
        return self

    @property
    def topics(self) -> list[str]:
        ordered: dict[str, None] = {}
        for route in self.routes:
            for topic in route.topics:
                ordered[topic] = None
        return list(ordered)
