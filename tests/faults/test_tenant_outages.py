"""One customer's endpoint down costs that customer only (issue 16; ``bench/isolation.py``
is the long version with figures).

Ten tenants share a topic's partitions; a steady stream is spread over them.  One tenant's
endpoint answers 503, or accepts and never answers, for a while.  A user of any other
tenant notices nothing: no partition pauses, their events keep arriving during the outage
(none waits for its end), nothing is lost; the failing tenant gets every event once its
endpoint is back.

The window is small (``WINDOW`` events at ``RATE``/s: two seconds of intake) and each
endpoint may hold ``QUEUE`` events in the process, so a window that counted every event
behind the failing tenant's oldest unfinished one would fill and pause everybody; a
window of unfinished events holds at most the failing tenant's ``QUEUE`` plus what is in
flight for the others.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.support.bridge import BridgeProcess
from tests.support.kafka import create_topic, unique
from tests.support.logs import logged
from tests.support.receiver import Receiver, Reply, Request
from tests.support.store import StoreWriter, tenant_config

Start = Callable[..., BridgeProcess]

TENANTS = 10
RATE = 50.0  # events/s over all tenants
WINDOW = 100
QUEUE = 20  # endpoints.endpoint_queue
OUTAGE = 8.0  # s
TIMEOUT = 2.0  # s, one request (the hanging case waits this long per attempt)
DELAYS = [1, 3]  # retry_topics: the Standard Webhooks schedule, shortened
FAILING = "acct-3"
HUNG = 599  # what a hanging request is recorded with (never sent: the client gave up)

FAILURES: dict[str, Callable[[Request], Reply]] = {
    "503": lambda _: Reply(503),
    "hang": lambda _: Reply(HUNG, delay=30),  # accepted, never answered in time
}


class TenantStream:
    """Events ``{"event", "id", "account"}`` at ``RATE``/s, tenant ``id % TENANTS``, until
    stopped; the produce time of every id."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.sent: dict[int, float] = {}
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self._topic = topic
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tenant-stream", daemon=True)

    def start(self) -> TenantStream:
        self._thread.start()
        return self

    def _run(self) -> None:
        started, i = time.monotonic(), 0
        while not self._stop.is_set():
            delay = started + i / RATE - time.monotonic()
            if delay > 0:
                self._producer.poll(0)
                time.sleep(delay)
            value = {"event": "call.ended", "id": i, "account": tenant(i)}
            self.sent[i] = time.time()
            self._producer.produce(self._topic, key=f"call-{i % 37}", value=json.dumps(value))
            i += 1
        assert self._producer.flush(15) == 0, "produce did not complete"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive()


def tenant(i: int) -> str:
    return f"acct-{i % TENANTS}"


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    servers = {f"acct-{n}": Receiver() for n in range(TENANTS)}
    yield servers
    for server in servers.values():
        server.close()


def _config(path: Path, bootstrap: str, topic: str, store: StoreWriter) -> Path:
    return tenant_config(
        path, bootstrap, unique("g"), topic, store,
        endpoints={"timeout": TIMEOUT, "endpoint_queue": QUEUE},
        route={"retry_topics": {"delays": DELAYS}},
    )  # fmt: skip


def delivered(server: Receiver) -> dict[int, float]:
    """id -> first 200 answer's arrival time."""
    out: dict[int, float] = {}
    for request in server.ok_requests():
        out.setdefault(request.json()["id"], request.at)
    return out


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_one_tenants_outage_holds_up_no_other_tenant(
    failure: str,
    bootstrap: str,
    store: StoreWriter,
    receivers: dict[str, Receiver],
    tmp_path: Path,
    start_bridge: Start,
) -> None:
    for name, server in receivers.items():
        store.create(name, server.url)
    topic = create_topic(bootstrap, unique("calls"), partitions=4)
    env = {"KAFKAHOOKS_WINDOW": str(WINDOW), "KAFKAHOOKS_LOG_LEVEL": "DEBUG"}
    bridge = start_bridge(_config(tmp_path / "r.yaml", bootstrap, topic, store), env)
    stream = TenantStream(bootstrap, topic).start()
    try:
        # every tenant receives before the outage
        for server in receivers.values():
            server.wait_count(3, timeout=60)
        failing = receivers[FAILING]
        failing.behaviour = FAILURES[failure]
        outage = time.time()
        time.sleep(OUTAGE)
        recovery = time.time()
        failing.behaviour = lambda _: Reply(200)
        time.sleep(1.0)
    finally:
        stream.stop()
    sent = stream.sent
    by_tenant: dict[str, list[int]] = {}
    for i in sent:
        by_tenant.setdefault(tenant(i), []).append(i)
    for name, server in receivers.items():
        ids = set(by_tenant[name])
        server.wait_for(lambda reqs, ids=ids: ids <= {r.json()["id"] for r in reqs
                                                       if getattr(r, "status", 200) < 300},
                        timeout=45)  # fmt: skip
    output = bridge.output()
    assert bridge.alive(), output[-2000:]
    assert bridge.terminate() == 0

    # no tenant's outage pauses the partitions everybody shares
    paused = [
        (round(r["ts"] - outage, 1), r.get("outstanding"))
        for r in logged(output, "partitions paused")
    ]
    assert paused == [], f"paused at (s after the outage began, events held): {paused}"
    # the others' events sent in the outage's first half arrived before it ended
    early = outage + OUTAGE / 2
    for name, server in receivers.items():
        if name == FAILING:
            continue
        arrived = delivered(server)
        late = [i for i in by_tenant[name] if outage <= sent[i] < early and arrived[i] > recovery]
        assert late == [], f"{name}: {len(late)} events waited for the outage to end"
    # the failing tenant: nothing answered during the outage, everything after it
    got = delivered(failing)
    during = [i for i in by_tenant[FAILING] if outage <= sent[i] < recovery]
    assert during, "the failing tenant had no events during the outage"
    assert all(got[i] >= recovery for i in during)
    # nothing lost, and each endpoint got each event once (no crash: no duplicates)
    for name, server in receivers.items():
        ids = [r.json()["id"] for r in server.ok_requests()]
        assert sorted(ids) == sorted(by_tenant[name]), name
