"""One key keeps failing while the others flow, then the process is killed.

The README's duplicate bound after a hard kill (``WINDOW + F``, F <= COMMIT_EVERY) rests
on the window counting the events finished behind a still-unfinished one: intake pauses
once WINDOW events wait behind the stuck key, so no more than that is redelivered.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.faults.fleet import Start, calls, replica_env
from tests.support.bridge import routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, produce, unique
from tests.support.ledger import Ledger
from tests.support.receiver import Receiver, Reply, Request

WINDOW, COMMIT_EVERY = 100, 50


class StuckEvent:
    """503 for id 0 until released; 200 for everything else."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def __call__(self, request: Request) -> Reply:
        if request.json()["id"] == 0 and not self.released.is_set():
            return Reply(503)
        return Reply(200)


@pytest.mark.timeout(120)
def test_a_stuck_key_then_sigkill_redelivers_no_more_than_the_bound(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    events = 1_000
    topic, group = create_topic(bootstrap, unique("stuck")), unique("g")
    stuck = StuckEvent()
    ledger = Ledger(stuck)
    receiver.behaviour = ledger
    retry = {"max_attempts": 50, "initial_backoff": 0.5, "max_backoff": 1, "jitter": 0}
    route = simple_route("calls", topic, receiver.url, retry=retry)
    config = routes_file(tmp_path / "r.yaml", bootstrap, group, [route])
    produce(bootstrap, topic, [("stuck", {"event": "e", "id": 0, "status": "s"})])
    produce(bootstrap, topic, calls(1, events - 1, keys=50))
    env = replica_env(WINDOW, COMMIT_EVERY)
    started = time.monotonic()
    first = start_bridge(config, env)

    # the window fills behind id 0 (still retrying): intake pauses, memory stays bounded
    wait_until(lambda: ledger.delivered >= WINDOW - 1, timeout=60)
    time.sleep(1.0)
    paused_at = ledger.delivered
    assert paused_at < WINDOW + 1, f"{paused_at} delivered past a window of {WINDOW}"
    first.kill()
    held_at = committed(bootstrap, group, topic)[0]
    stuck.released.set()
    second = start_bridge(config, env)
    wait_until(lambda: committed(bootstrap, group, topic) == [events], timeout=60)
    assert second.terminate() == 0

    tally = ledger.tally(range(events))
    bound = WINDOW + COMMIT_EVERY
    print(
        f"\nstuck key, then SIGKILL: {tally.line()} bound={bound} "
        f"(WINDOW {WINDOW} + COMMIT_EVERY {COMMIT_EVERY}) committed_at_kill={held_at} "
        f"elapsed_s={time.monotonic() - started:.1f}"
    )
    assert tally.lost == 0
    assert tally.duplicates <= bound
