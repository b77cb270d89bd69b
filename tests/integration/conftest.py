"""Fixtures for integration tests that need more than the broker and a receiver:
a schema registry, and writers of customer endpoints into a real store topic."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from kafkahooks.endpoints import generate_key_spec
from tests.support.kafka import unique
from tests.support.registry import REGISTRY_PASSWORD, RegistryServer
from tests.support.store import StoreWriter


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    """A Schema-Registry-compatible endpoint on loopback, with basic auth."""
    server = RegistryServer(username="kafkahooks", password=REGISTRY_PASSWORD)
    yield server
    server.close()


@pytest.fixture
def store_keys() -> str:
    """A fresh ``encryption_keys`` spec with one key, ``k1``."""
    return generate_key_spec("k1")


@pytest.fixture
def store_writer(bootstrap: str) -> Iterator[Callable[[str, str], StoreWriter]]:
    """``make(topic, keys)``: a writer of endpoint records on the store topic ``topic``
    (created compacted with 1 partition if missing), closed after the test."""
    writers: list[StoreWriter] = []

    def make(topic: str, keys: str) -> StoreWriter:
        writer = StoreWriter(bootstrap, topic, keys)
        writers.append(writer)
        return writer

    yield make
    for writer in writers:
        writer.close()


@pytest.fixture
def store(store_keys: str, store_writer: Callable[[str, str], StoreWriter]) -> StoreWriter:
    """A writer on a new store topic of its own (``store.topic``, ``store.keys``)."""
    return store_writer(unique("endpoints"), store_keys)
