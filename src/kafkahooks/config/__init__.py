"""The routes file: loading, interpolation, models and validation errors."""

from kafkahooks.config.endpoint import AuthConfig, OAuth2Auth, TlsConfig
from kafkahooks.config.filters import Predicate
from kafkahooks.config.loader import ConfigError, load_config, parse_config
from kafkahooks.config.models import (
    EndpointConfig,
    EndpointStoreConfig,
    KafkaConfig,
    RetryConfig,
    RouteConfig,
    RoutesFile,
    SigningConfig,
    TenantEndpoints,
    pick_route,
)
from kafkahooks.config.sources import (
    AvroFormat,
    DeadLetterLimitConfig,
    JsonFormat,
    KeyFormat,
    RegistryAvroFormat,
    SchemaRegistryConfig,
    SourceConfig,
    StringFormat,
    ValueFormat,
)
from kafkahooks.config.throughput import CircuitBreakerConfig, EndpointLimits
from kafkahooks.config.urls import MASK, shown_url

__all__ = [
    "MASK",
    "AuthConfig",
    "AvroFormat",
    "CircuitBreakerConfig",
    "ConfigError",
    "DeadLetterLimitConfig",
    "EndpointConfig",
    "EndpointLimits",
    "EndpointStoreConfig",
    "JsonFormat",
    "KafkaConfig",
    "KeyFormat",
    "OAuth2Auth",
    "Predicate",
    "RegistryAvroFormat",
    "RetryConfig",
    "RouteConfig",
    "RoutesFile",
    "SchemaRegistryConfig",
    "SigningConfig",
    "SourceConfig",
    "StringFormat",
    "TenantEndpoints",
    "TlsConfig",
    "ValueFormat",
    "load_config",
    "parse_config",
    "pick_route",
    "shown_url",
]
