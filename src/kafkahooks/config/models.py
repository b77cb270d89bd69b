"""Pydantic models of the routes file.

Every model forbids unknown keys, so a misspelt option is an error at start
rather than a silently ignored setting.  Secrets are ``SecretStr`` from the
moment they are parsed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal, Protocol, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from kafkahooks.config.api import AdminToken, ApiConfig, PortalConfig
from kafkahooks.config.endpoint import EndpointConfig, SigningConfig
from kafkahooks.config.filters import Predicate
from kafkahooks.config.sources import (
    DeadLetterLimitConfig,
    KeyFormat,
    SchemaRegistryConfig,
    SourceConfig,
    ValueFormat,
    needs_registry,
)
from kafkahooks.config.tenants import TENANT_RETRY_DELAYS, EndpointStoreConfig, TenantEndpoints
from kafkahooks.config.throughput import (
    BatchConfig,
    CircuitBreakerConfig,
    EndpointLimits,
    RetryTopicsConfig,
)

__all__ = [
    "AdminToken",
    "ApiConfig",
    "EndpointConfig",
    "EndpointStoreConfig",
    "KafkaConfig",
    "PortalConfig",
    "RetryConfig",
    "RouteConfig",
    "RoutesFile",
    "SigningConfig",
    "TenantEndpoints",
    "pick_route",
]

Scalar = str | int | float | bool
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret_property(name: str) -> bool:
    """Whether a librdkafka property holds a credential (``sasl.password``,
    ``ssl.key.password``, ``sasl.oauthbearer.client.secret``, ``ssl.key.pem``, ...)."""
    return any(word in name.lower() for word in _SECRET_WORDS)


_SECRET_WORDS = ("password", "secret", "key.pem", "oauthbearer.config", "credential", "token")


def _plain(value: dict[str, Scalar | SecretStr]) -> dict[str, Scalar]:
    return {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in value.items()}


class KafkaConfig(_Strict):
    """``properties`` (and ``dead_letter_properties``) are read from the file under
    those names and kept with every credential-like value as a ``SecretStr``; the
    attributes of the same names give librdkafka the plain values."""

    bootstrap_servers: str = Field(min_length=1)
    group_id: str = Field(default="kafkahooks", min_length=1)
    # Passed to librdkafka as they are: SASL, TLS, session timeouts, ...
    client_properties: dict[str, Scalar | SecretStr] = Field(
        default_factory=dict, alias="properties"
    )
    # The dead-letter producer's own properties (default: the main cluster).
    dead_letter_client_properties: dict[str, Scalar | SecretStr] = Field(
        default_factory=dict, alias="dead_letter_properties"
    )
    # Optional: one JSON record per HTTP attempt (read back by `kafkahooks deliveries`).
    delivery_log_topic: str | None = None

    @field_validator("client_properties", "dead_letter_client_properties", mode="before")
    @classmethod
    def _no_owned_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # the type check names the problem
        owned = {"enable.auto.commit", "enable.auto.offset.store", "group.id"}
        clash = owned.intersection(value)
        if clash:
            raise ValueError(f"{sorted(clash)} are set by kafkahooks and cannot be overridden")
        return value

    @field_validator("client_properties", "dead_letter_client_properties")
    @classmethod
    def _secrets(cls, value: dict[str, Scalar | SecretStr]) -> dict[str, Scalar | SecretStr]:
        return {
            k: SecretStr(str(v)) if _secret_property(k) and not isinstance(v, SecretStr) else v
            for k, v in value.items()
        }

    @property
    def properties(self) -> dict[str, Scalar]:
        """For librdkafka: the plain values."""
        return _plain(self.client_properties)

    @property
    def dead_letter_properties(self) -> dict[str, Scalar]:
        return _plain(self.dead_letter_client_properties)


class RetryConfig(_Strict):
    max_attempts: int = Field(default=5, ge=1, le=100)
    initial_backoff: float = Field(default=0.5, gt=0)
    max_backoff: float = Field(default=30.0, gt=0)
    multiplier: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.5, ge=0, description="max random seconds added")
    retry_after_cap: float = Field(default=60.0, ge=0)


class RouteConfig(_Strict):
    name: Name
    description: str = ""
    active: bool = True
    topics: list[str] = Field(min_length=1)
    events: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    event_type: str = "value.event"
    template: Any = Field(default=None)
    # per event type: the fields that go out for that type (``template`` is the fallback)
    templates: dict[str, Any] = Field(default_factory=dict)
    # every predicate must hold (config/filters.py); filtered-out events are finished
    filter: list[Predicate] = Field(default_factory=list)
    on_missing: Literal["null", "omit", "fail"] = "null"
    payload_version: str = "v1"
    # exactly one: a fixed endpoint, or the endpoints of each event's tenant (config/tenants.py)
    endpoint: EndpointConfig | None = None
    endpoints: TenantEndpoints | None = None
    signing: SigningConfig | None = None
    retry: RetryConfig = Field(default_factory=RetryConfig)
    ordering: Literal["key", "partition", "none"] = "key"
    dead_letter_topic: str | None = None
    # throughput and isolation (config/throughput.py)
    batch: BatchConfig | None = None
    limits: EndpointLimits = Field(default_factory=EndpointLimits)
    circuit_breaker: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig)
    isolation: Literal["shared", "group"] = "shared"
    retry_topics: RetryTopicsConfig | None = None
    # input formats overriding the topic's ``sources`` entry (config/sources.py)
    value_format: ValueFormat | None = None
    key_format: KeyFormat | None = None

    @model_validator(mode="before")
    @classmethod
    def _tenant_routes_park(cls, data: Any) -> Any:
        """A route with ``endpoints`` parks on retry topics unless it says otherwise
        (``retry_topics: null`` turns parking off): a customer's endpoint down for hours
        must cost retry-topic records, not the window (issue 16)."""
        tenant = isinstance(data, dict) and data.get("endpoints") is not None
        if tenant and "retry_topics" not in data:
            return {**data, "retry_topics": {"delays": list(TENANT_RETRY_DELAYS)}}
        return data

    @model_validator(mode="after")
    def _one_target(self) -> RouteConfig:
        """A fixed ``endpoint`` or tenant ``endpoints``; with the latter, the signing
        secrets are each endpoint's own, and a batch could mix endpoints."""
        if (self.endpoint is None) == (self.endpoints is None):
            raise ValueError(
                "give exactly one of 'endpoint' (a fixed target) and 'endpoints' "
                "(each event's tenant's endpoints)"
            )
        signing = self.signing
        if self.endpoints is None:
            if signing is not None and not signing.secrets:
                raise ValueError("signing needs a secret ('secret' or 'secrets')")
            return self
        if signing is not None and "secrets" in signing.model_fields_set:
            raise ValueError(
                "with 'endpoints', signing gives the scheme and header names only: every "
                "endpoint has its own secrets (remove 'secret'/'secrets')"
            )
        if self.batch is not None:
            raise ValueError(
                "batching with 'endpoints' (one endpoint per batch) is not "
                "supported yet: remove 'batch'"
            )
        return self

    @property
    def tenant_path(self) -> str | None:
        """The placeholder path of the tenant (``endpoints.tenant``), or ``None``."""
        return self.endpoints.tenant if self.endpoints is not None else None

    @property
    def target(self) -> EndpointConfig:
        """The fixed endpoint; a ``LookupError`` for a route with ``endpoints``."""
        if self.endpoint is None:
            raise LookupError(f"route {self.name!r} has no fixed endpoint (it has 'endpoints')")
        return self.endpoint

    @model_validator(mode="after")
    def _template_present(self) -> RouteConfig:
        if self.template is None and not self.templates:
            raise ValueError("a route needs a payload template (an object or list of fields)")
        endpoint = self.endpoint
        if endpoint is None:  # tenant endpoints: POST, JSON
            return self
        shaped = endpoint.format != "json" or endpoint.method == "GET"
        specs = [self.template, *self.templates.values()]
        if shaped and any(s is not None and not isinstance(s, dict) for s in specs):
            raise ValueError("form, xml and GET query payloads need a template that is a mapping")
        if shaped and self.batch is not None:
            raise ValueError("batch sends a JSON array by POST: not with form, xml or GET")
        return self

    @model_validator(mode="after")
    def _signature_headers_are_ours(self) -> RouteConfig:
        """Names compare case-insensitively: an event or a static header naming a
        signature header would go out next to it (first)."""
        if self.signing is None:
            return self
        signed = self.signing.header_names()
        endpoint = self.endpoint
        if endpoint is None:  # tenant endpoints: their headers are checked at write time
            return self
        static = endpoint.static_names()
        for where, names in (("per event", endpoint.per_event_names()), ("statically", static)):
            clash = signed & names
            if clash:
                raise ValueError(
                    f"{sorted(clash)} are the signature's headers; they cannot be set {where}"
                )
        return self

    @model_validator(mode="after")
    def _retry_topics_are_per_event(self) -> RouteConfig:
        if self.batch is not None and self.retry_topics is not None:
            raise ValueError("retry_topics parks single events; it cannot be used with batch")
        return self

    def dead_letter_for(self, topic: str) -> str:
        return self.dead_letter_topic or f"{topic}.dlq"


class RoutesFile(_Strict):
    kafka: KafkaConfig
    routes: list[RouteConfig] = Field(min_length=1)
    # how source topics are read, and when dead letters must stop the bridge (config/sources.py)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    schema_registry: SchemaRegistryConfig | None = None
    dead_letter_limit: DeadLetterLimitConfig = Field(default_factory=DeadLetterLimitConfig)
    # where customer endpoints are kept: required when a route has ``endpoints``
    endpoint_store: EndpointStoreConfig | None = None
    # the management API (`kafkahooks api`, config/api.py)
    api: ApiConfig | None = None

    @model_validator(mode="after")
    def _store_present(self) -> RoutesFile:
        tenant = [r.name for r in self.routes if r.endpoints is not None]
        if tenant and self.endpoint_store is None:
            raise ValueError(
                f"routes {tenant} deliver to customer endpoints: add an endpoint_store "
                "section (topic, encryption_keys)"
            )
        return self

    @model_validator(mode="after")
    def _registry_present(self) -> RoutesFile:
        formats: list[object] = [f for s in self.sources.values() for f in (s.value, s.key)]
        formats += [f for r in self.routes for f in (r.value_format, r.key_format)]
        if needs_registry(formats) and self.schema_registry is None:
            raise ValueError("format avro-registry needs a schema_registry section (url, ...)")
        return self

    # a field validator, so the error is located at ``routes`` rather than the top level
    @field_validator("routes")
    @classmethod
    def _unique_names(cls, routes: list[RouteConfig]) -> list[RouteConfig]:
        seen: set[str] = set()
        for route in routes:
            if route.name in seen:
                raise ValueError(f"route name {route.name!r} is used twice")
            seen.add(route.name)
        return routes

    @property
    def topics(self) -> list[str]:
        ordered: dict[str, None] = {}
        for route in self.routes:
            for topic in route.topics:
                ordered[topic] = None
        return list(ordered)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_R = TypeVar("_R", bound=_Named)


def pick_route(routes: Iterable[_R], name: str) -> _R:
    """The route named ``name`` (a route's config, or a compiled route); a
    ``LookupError`` that lists the names there are if none is."""
    candidates = list(routes)
    for route in candidates:
        if route.name == name:
            return route
    names = ", ".join(r.name for r in candidates) or "none"
    raise LookupError(f"no route {name!r} (routes: {names})")
