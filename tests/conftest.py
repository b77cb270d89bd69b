"""Shared fixtures: one real broker per test session, real receivers on loopback."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kafkahooks.demo.broker import EmbeddedBroker
from kafkahooks.kafka import offsets
from tests.support.bridge import BridgeProcess
from tests.support.receiver import Receiver

# A consumer loop's offset tracker checks it is used from one thread only: here, and in
# every bridge process the tests start (they inherit the environment).
os.environ["KAFKAHOOKS_CHECK_THREADS"] = "1"
offsets.CHECK_THREADS = True


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture
def bootstrap(broker: EmbeddedBroker) -> str:
    return broker.bootstrap


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def start_bridge(tmp_path: Path) -> Iterator[Callable[..., BridgeProcess]]:
    started: list[BridgeProcess] = []

    def start(config: Path, env: dict[str, str] | None = None) -> BridgeProcess:
        bridge = BridgeProcess(config, env, log=tmp_path / f"bridge-{len(started)}.log")
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        bridge.stop()
