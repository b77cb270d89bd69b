"""The routes file: loading, interpolation, models and validation errors."""

from kafkahooks.config.endpoint import (
    RESERVED_HEADERS,
    SIGNATURE_HEADERS,
    AuthConfig,
    OAuth2Auth,
    TlsConfig,
    check_static_headers,
)
from kafkahooks.config.filters import Predicate
from kafkahooks.config.loader import ConfigError, load_config, parse_config
from kafkahooks.config.models import (
    AdminToken,
    ApiConfig,
    EndpointConfig,
    EndpointStoreConfig,
    KafkaConfig,
    PortalConfig,
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
from kafkahooks.config.urls import MASK, check_target_url, shown_url, through_authority

__all__ = [
    "MASK",
    "RESERVED_HEADERS",
    "SIGNATURE_HEADERS",
    "AdminToken",
    "ApiConfig",
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
    "PortalConfig",
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
    "check_static_headers",
    "check_target_url",
    "load_config",
    "parse_config",
    "pick_route",
    "shown_url",
    "through_authority",
]
