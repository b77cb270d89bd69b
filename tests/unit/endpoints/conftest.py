"""Fixtures for the endpoint store's pure core: keyrings, a clock, typical endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kafkahooks.endpoints import (
    Endpoint,
    EndpointSpec,
    Keyring,
    create_endpoint,
    generate_key_spec,
)

NOW = 1_800_000_000.0
URL = "https://hooks.example.com/t/SECRETPATH123/receive?token=QUERYSECRET456"
SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"  # base64 of 24 letters
HEADER_SECRET = "Bearer HEADERSECRET789"


@pytest.fixture
def now() -> float:
    return NOW


@pytest.fixture
def key_specs() -> tuple[str, str]:
    return generate_key_spec("k2"), generate_key_spec("k1")


@pytest.fixture
def keyring(key_specs: tuple[str, str]) -> Keyring:
    """k2 encrypts; k1 (the older key) still decrypts."""
    return Keyring.parse(",".join(key_specs))


@pytest.fixture
def make_spec() -> Callable[..., EndpointSpec]:
    def make(**fields: Any) -> EndpointSpec:
        data: dict[str, Any] = {
            "url": URL,
            "description": "production webhook",
            "event_types": ["call.completed", "call.failed"],
            "headers": {"X-Customer": "acme"},
            "secret_headers": {"Authorization": HEADER_SECRET},
            "metadata": {"team": "blue"},
            **fields,
        }
        return EndpointSpec.parse(data)

    return make


@pytest.fixture
def endpoint(make_spec: Callable[..., EndpointSpec]) -> Endpoint:
    return create_endpoint(make_spec(), "tenant-1", secret=SECRET, now=NOW)
