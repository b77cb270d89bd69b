"""The group is lost under a batch route: the broker process is stopped (SIGSTOP) past
the session timeout, so the member's assignment is lost (``on_lost``), then continued.

``on_lost`` emits the open batch and cancels its lane task before the task's first
step.  Before the fix that lane stayed behind with no task, the partition came back
to the same member and never delivered again, with /healthz at 200.  Now the lane goes
with its cancelled task: the partition delivers again on this member, and /healthz
stays 200 throughout (it would turn 503 on an orphaned lane).
"""

from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkahooks.demo.broker import EmbeddedBroker, free_port
from tests.faults.fleet import Start, calls, check_alive, metrics_env
from tests.support.bridge import routes_file, simple_route, wait_until
from tests.support.kafka import GROUP_TIMINGS, committed, create_topic, produce, unique
from tests.support.logs import logged
from tests.support.receiver import Receiver

EVENTS = 50
STOPPED = 5.0  # seconds the broker is stopped: past the 2 s session timeout
STALL_AFTER = 4.0  # /healthz bound for this test (the default is at least 60 s)


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker of this test's own: it is stopped and continued."""
    with EmbeddedBroker() as running:
        yield running


def _health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.mark.timeout(180)
def test_a_batch_route_delivers_again_after_the_group_was_lost(
    own_broker: EmbeddedBroker, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    bootstrap = own_broker.bootstrap
    topic, group = create_topic(bootstrap, unique("calls")), unique("g")
    # a batch that stays open (its timer is long): on_lost finds it open
    batch = {"max_events": EVENTS, "max_wait_ms": 8_000, "lanes": 1}
    route = simple_route("calls", topic, receiver.url, batch=batch)
    config = routes_file(tmp_path / "r.yaml", bootstrap, group, [route])
    port = free_port()
    env = {**metrics_env(port), "KAFKAHOOKS_STALL_AFTER": str(STALL_AFTER)}
    produce(bootstrap, topic, calls(0, EVENTS - 10, keys=5))
    bridge = start_bridge(config, env)
    wait_until(lambda: logged(bridge.output(), "partitions assigned"), timeout=30)
    time.sleep(1.0)  # the records are taken into the open batch

    assert own_broker._proc is not None
    broker_pid = own_broker._proc.pid
    os.kill(broker_pid, signal.SIGSTOP)
    try:
        time.sleep(STOPPED)
    finally:
        os.kill(broker_pid, signal.SIGCONT)
    lost_at = time.monotonic()
    wait_until(lambda: logged(bridge.output(), "partitions lost"), timeout=30)
    produce(bootstrap, topic, calls(EVENTS - 10, 10, keys=5))  # the batch fills up
    health: list[int] = []

    def delivered_again() -> bool:
        check_alive([bridge])
        health.append(_health(port))
        return committed(bootstrap, group, topic) == [EVENTS]

    wait_until(delivered_again, timeout=60, interval=0.5)
    recovered = time.monotonic() - lost_at
    ids = sorted({item["data"]["id"] for r in receiver.requests for item in r.json()})
    assigned = len(logged(bridge.output(), "partitions assigned"))
    print(
        f"\non_lost with a batch route: broker stopped {STOPPED:.0f}s "
        f"(session {GROUP_TIMINGS['session.timeout.ms']} ms); assignments={assigned}; "
        f"delivered again and committed {EVENTS} {recovered:.1f}s after the broker came back; "
        f"batches={len(receiver.requests)}; /healthz seen={sorted(set(health))}"
    )
    assert ids == list(range(EVENTS))
    assert 503 not in health
    assert bridge.terminate() == 0
