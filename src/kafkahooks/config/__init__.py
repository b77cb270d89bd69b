"""The routes file: loading, interpolation, models and validation errors."""

from kafkahooks.config.loader import ConfigError, load_config, parse_config
from kafkahooks.config.models import (
    EndpointConfig,
    KafkaConfig,
    RetryConfig,
    RouteConfig,
    RoutesFile,
    SigningConfig,
)

__all__ = [
    "ConfigError",
    "EndpointConfig",
    "KafkaConfig",
    "RetryConfig",
    "RouteConfig",
    "RoutesFile",
    "SigningConfig",
    "load_config",
    "parse_config",
]
