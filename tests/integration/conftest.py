"""Fixtures for integration tests that need more than the broker and a receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.registry import REGISTRY_PASSWORD, RegistryServer


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    """A Schema-Registry-compatible endpoint on loopback, with basic auth."""
    server = RegistryServer(username="kafkahooks", password=REGISTRY_PASSWORD)
    yield server
    server.close()
