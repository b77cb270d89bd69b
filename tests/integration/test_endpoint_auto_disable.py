
"""Auto-disable of customer endpoints, with real bridges, the real store topic and receivers.

410 Gone disables one endpoint of a tenant (its other keeps receiving); the failure clock
lives in the store, so a disable happens on time across a restart of every replica; a
tenant's new revision voids the bridge's disable and deliveries resume; each disable and
re-enable is announced once on the events topic, whatever the number of replicas.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kafkahooks.endpoints import Endpoint, EndpointStatus
from tests.support.bridge import BridgeProcess, wait_until
from tests.support.kafka import (
    GROUP_TIMINGS,
    committed,
    create_topic,
    produce,
    read_topic,
    unique,
)
from tests.support.receiver import Receiver, Reply, Request
from tests.support.store import StoreWriter, read_table

# each test starts bridges or CLI processes for 10-30 s: `make test-slow` runs them
pytestmark = pytest.mark.slow

PERIOD = 3.0  # seconds of failures before the clock disables (5 days by default)


def _config(
    path: Path, bootstrap: str, topic: str, store: StoreWriter, events: str, group: str
) -> Path:
    doc = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": group,
            "properties": dict(GROUP_TIMINGS),
        },
        "endpoint_store": {
            "topic": store.topic,
            "encryption_keys": store.keys,
            "auto_disable_after": PERIOD,
            "status_write_interval": 0.2,
            "events_topic": events,
        },
        "dead_letter_limit": {"enabled": False},
        "routes": [
            {
                "name": "calls",
                "topics": [topic],
                "event_type": "value.event",
                "template": {"id": "{{ value.id }}"},
                "signing": {"scheme": "standard-webhooks"},
                "endpoints": {"tenant": "value.account", "timeout": 5},
                "retry": {"max_attempts": 1},
                "retry_topics": None,  # every answer is an attempt here: none parked
            }
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class Setup:
    def __init__(self, bootstrap: str, store: StoreWriter, tmp_path: Path) -> None:
        self.bootstrap, self.store = bootstrap, store
        self.topic = create_topic(bootstrap, unique("calls"))
        self.events, self.group = unique("endpoint-events"), unique("g")
        self.config = _config(
            tmp_path / "r.yaml", bootstrap, self.topic, store, self.events, self.group
        )
        self.sent = 0

    def send(self, account: str = "acme", n: int = 1) -> list[int]:
        ids = list(range(self.sent + 1, self.sent + n + 1))
        self.sent += n
        produce(
            self.bootstrap,
            self.topic,
            [(None, {"event": "call.ended", "id": i, "account": account}) for i in ids],
        )
        return ids

    def status(self, ep: Endpoint) -> EndpointStatus | None:
        return read_table(self.bootstrap, self.store.topic, self.store.keys, 10).status_of(ep.id)

    def cli(self, *args: str) -> str:
        """``kafkahooks endpoints ARGS --config`` in a process of its own; its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "kafkahooks.cli", "endpoints", *args, "--config",
             str(self.config), "--timeout", "15"],
            capture_output=True, text=True, timeout=30,
            env={**os.environ, "KAFKAHOOKS_ALLOW_LOCAL_TARGETS": "true"},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def announced(self, expect: int, timeout: float = 30) -> list[dict[str, Any]]:
        found = read_topic(self.bootstrap, self.events, expect, timeout=timeout)
        return [json.loads(m.value()) for m in found]


def _ids(receiver: Receiver) -> list[int]:
    return sorted(r.json()["id"] for r in receiver.requests)


def _gone_then_ok() -> Callable[[Request], Reply]:
    answers = iter([Reply(410, body=b"gone")])
    return lambda _request: next(answers, Reply())


def test_410_disables_that_endpoint_only(
    bootstrap: str,
    store: StoreWriter,
    tmp_path: Path,
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    setup = Setup(bootstrap, store, tmp_path)
    gone, kept = Receiver(lambda _: Reply(410, body=b"gone")), Receiver()
    try:
        gone_ep = store.create("acme", gone.url)
        store.create("acme", kept.url)
        start_bridge(setup.config)
        setup.send()
        (event,) = setup.announced(1)  # produced once the bridge applied its disable
        setup.send(n=3)
        kept.wait_count(4, timeout=30)
        assert _ids(kept) == [1, 2, 3, 4]
        assert _ids(gone) == [1]
        assert event["type"] == "endpoint.disabled"
        assert event["data"]["endpoint_id"] == gone_ep.id
        assert (event["data"]["tenant"], event["data"]["reason"]) == ("acme", "gone")
        status = setup.status(gone_ep)
        assert status is not None and status.disabled is not None
        assert status.disabled.detail == "HTTP 410 Gone"
        assert status.about(gone_ep.offset)
        # what the operator sees: the effective state and why
        shown = json.loads(setup.cli("get", gone_ep.id))
        assert (shown["active"], shown["enabled"]) == (True, False)
        assert shown["disabled_by_kafkahooks"]["reason"] == "gone"
        listed = setup.cli("list", "--tenant", "acme")
        assert f"{gone_ep.id}  acme    no (kafkahooks: gone)" in listed
    finally:
        gone.close()
        kept.close()


def test_the_failure_clock_survives_a_restart_of_every_replica(
    bootstrap: str,
    store: StoreWriter,
    tmp_path: Path,
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    setup = Setup(bootstrap, store, tmp_path)
    failing = Receiver(lambda _: Reply(503, body=b"down"))
    try:
        ep = store.create("acme", failing.url)
        first = [start_bridge(setup.config), start_bridge(setup.config)]
        setup.send()
        failing.wait_count(1, timeout=30)
        wait_until(lambda: (s := setup.status(ep)) is not None and s.failing_since, timeout=30)
        status = setup.status(ep)
        assert status is not None and status.failing_since is not None and not status.disabled
        since = status.failing_since
        for bridge in first:
            bridge.kill()  # no replica keeps anything in memory
        time.sleep(max(0.0, since + PERIOD - time.time()))
        start_bridge(setup.config)
        setup.send()  # the first failure the new process sees is past the period
        failing.wait_count(2, timeout=30)
        wait_until(lambda: (s := setup.status(ep)) is not None and s.disabled, timeout=30)
        status = setup.status(ep)
        assert status is not None and status.disabled is not None
        assert status.failing_since == since  # the clock went on: not restarted
        assert status.disabled.reason == "failing"
        (event,) = setup.announced(1)
        assert (event["type"], event["data"]["failing_since"]) == ("endpoint.disabled", since)
        setup.send()
        time.sleep(1.0)  # a later event does not go to it
        assert len(failing.requests) == 2
    finally:
        failing.close()


def test_a_new_revision_voids_the_disable_once_for_all_replicas(
    bootstrap: str,
    store: StoreWriter,
    tmp_path: Path,
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    setup = Setup(bootstrap, store, tmp_path)
    receiver = Receiver(_gone_then_ok())
    try:
        ep = store.create("acme", receiver.url)
        bridges = [start_bridge(setup.config), start_bridge(setup.config)]
        wait_until(lambda: all("endpoint store loaded" in b.output() for b in bridges), 30)
        setup.send()
        (disabled,) = setup.announced(1)
        setup.send()  # while disabled: matches no endpoint
        wait_until(lambda: committed(bootstrap, setup.group, setup.topic) == [2], timeout=30)
        # the tenant enables it again: a new revision, over the one the bridge disabled
        assert "no longer applies" in setup.cli("enable", ep.id)
        events = setup.announced(2)
        setup.send()
        receiver.wait_count(2, timeout=30)
        assert _ids(receiver) == [1, 3]
        assert disabled["type"] == "endpoint.disabled"
        assert [e["type"] for e in events] == ["endpoint.disabled", "endpoint.enabled"]
        assert events[1]["data"]["endpoint_id"] == ep.id
        assert events[1]["data"]["reason"] == "endpoint-changed"
        # both replicas wrote a clear; the one the store applied announced it, once
        assert len(setup.announced(3, timeout=3)) == 2
    finally:
        receiver.close()
