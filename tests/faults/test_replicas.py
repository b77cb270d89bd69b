"""Replicas of one consumer group under crashes, rolling restarts and scaling,
while a steady stream of events flows: nothing lost, duplicates bounded."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from tests.faults.fleet import (
    Start,
    check_alive,
    committed_total,
    rebalance_log,
    replica_env,
    wait_owning,
    wait_settled,
    wait_taken_over,
)
from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import create_topic, unique
from tests.support.ledger import Ledger
from tests.support.receiver import Receiver
from tests.support.stream import PacedProducer

PARTITIONS = 6
WINDOW = 200
COMMIT_EVERY = 100
ENV = replica_env(WINDOW, COMMIT_EVERY)


def _all(topic: str) -> set[str]:
    return {f"{topic}/{p}" for p in range(PARTITIONS)}


def _setup(
    bootstrap: str, receiver: Receiver, tmp_path: Path, name: str
) -> tuple[str, str, Path, Ledger]:
    topic, group = create_topic(bootstrap, unique(name), PARTITIONS), unique("g")
    ledger = Ledger()
    receiver.behaviour = ledger
    config = routes_file(
        tmp_path / "r.yaml", bootstrap, group, [simple_route("calls", topic, receiver.url)]
    )
    return topic, group, config, ledger


def _finish(
    stream: PacedProducer, ledger: Ledger, replicas: list[BridgeProcess], timeout: float = 120
) -> None:
    """Wait for the stream to end and every event to arrive, then stop cleanly."""
    stream.join(timeout)

    def arrived() -> bool:
        check_alive(replicas)
        return ledger.has_all(stream.ids())

    try:
        wait_until(arrived, timeout=timeout, interval=0.2)
    except AssertionError:
        raise AssertionError(f"not all arrived: {ledger.tally(stream.ids()).line()}") from None
    for replica in replicas:
        assert replica.terminate() == 0, replica.output()[-2000:]


@pytest.mark.timeout(300)
def test_crash_loop_sigkill_loses_nothing_and_duplicates_stay_within_the_bound(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    kills_wanted, events = 3, 20_000
    topic, group, config, ledger = _setup(bootstrap, receiver, tmp_path, "crash")
    survivors = [start_bridge(config, ENV) for _ in range(2)]
    victim = start_bridge(config, ENV)
    kills: list[float] = []  # failover seconds, one per kill
    killed_at: list[float] = []
    stream = PacedProducer(
        bootstrap, topic, rate=800, minimum=events, until=lambda: len(kills) >= kills_wanted
    ).start()
    started = time.monotonic()

    while len(kills) < kills_wanted:
        wait_owning(victim)
        time.sleep(1.5)  # let it take and finish work, so the kill interrupts some
        orphaned = wait_owning(victim)
        assert not stream.done, "the stream ended before the kill: raise minimum or rate"
        victim.kill()  # SIGKILL: no drain, no commit, no LeaveGroup
        killed_at.append(time.monotonic())
        kills.append(wait_taken_over(orphaned, survivors))
        victim = start_bridge(config, ENV)

    _finish(stream, ledger, [*survivors, victim])
    tally = ledger.tally(stream.ids())
    # README "Duplicate bound after a hard kill": per kill at most WINDOW + F, F <= COMMIT_EVERY
    bound = len(kills) * (WINDOW + COMMIT_EVERY)
    intervals = [round(b - a, 1) for a, b in itertools.pairwise(killed_at)]
    print(
        f"\ncrash loop: replicas=3 kills={len(kills)} {tally.line()} "
        f"bound={bound} (= {len(kills)} x (WINDOW {WINDOW} + COMMIT_EVERY {COMMIT_EVERY})) "
        f"failover_s={[round(k, 1) for k in kills]} kill_intervals_s={intervals} "
        f"{rebalance_log(tmp_path)} "
        f"elapsed_s={time.monotonic() - started:.1f}"
    )
    assert all(i > max(kills) for i in intervals)  # each kill after the last failover ended
    assert tally.expected >= events
    assert tally.lost == 0
    assert tally.duplicates <= bound
    assert committed_total(bootstrap, group, topic, PARTITIONS) == tally.expected


@pytest.mark.timeout(240)
def test_rolling_restart_with_sigterm_loses_nothing_and_redelivers_nothing(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    replicas_n = 3
    topic, group, config, ledger = _setup(bootstrap, receiver, tmp_path, "rolling")
    replicas = [start_bridge(config, ENV) for _ in range(replicas_n)]
    wait_settled(replicas, _all(topic))
    rolled = 0
    stream = PacedProducer(
        bootstrap, topic, rate=500, minimum=5_000, until=lambda: rolled >= replicas_n
    ).start()
    started = time.monotonic()
    stops: list[float] = []

    for _ in range(replicas_n):  # replace the oldest replica, one at a time
        fresh = start_bridge(config, ENV)
        wait_owning(fresh, timeout=45)
        # Let the group settle first, as a rollout with minReadySeconds would: the test broker
        # may finish a rebalance without a member that joined a moment before, which then
        # loses its partitions (fenced, uncommitted work redone by the next owner).
        wait_settled([*replicas, fresh], _all(topic))
        assert not stream.done, "the stream ended before the restart: raise minimum"
        old = replicas.pop(0)
        began = time.monotonic()
        assert old.terminate() == 0, old.output()[-2000:]
        stops.append(time.monotonic() - began)
        replicas.append(fresh)
        rolled += 1

    _finish(stream, ledger, replicas)
    tally = ledger.tally(stream.ids())
    print(
        f"\nrolling restart: replicas={replicas_n} replaced={rolled} {tally.line()} "
        f"sigterm_exit_s={[round(s, 1) for s in stops]} {rebalance_log(tmp_path)} "
        f"elapsed_s={time.monotonic() - started:.1f}"
    )
    assert tally.lost == 0
    assert tally.duplicates == 0
    assert committed_total(bootstrap, group, topic, PARTITIONS) == tally.expected


@pytest.mark.timeout(240)
def test_scaling_one_to_three_to_one_mid_stream_loses_nothing_and_redelivers_nothing(
    bootstrap: str, receiver: Receiver, tmp_path: Path, start_bridge: Start
) -> None:
    topic, group, config, ledger = _setup(bootstrap, receiver, tmp_path, "scale")
    first = start_bridge(config, ENV)
    wait_owning(first)
    scaled = False
    stream = PacedProducer(bootstrap, topic, rate=500, minimum=5_000, until=lambda: scaled).start()
    started = time.monotonic()

    ledger_before = ledger.delivered
    wait_until(lambda: ledger.delivered > ledger_before + 200, timeout=30)
    extra = [start_bridge(config, ENV) for _ in range(2)]  # 1 -> 3
    for replica in extra:
        wait_owning(replica, timeout=45)
    out_at_three = ledger.delivered
    time.sleep(2)  # three replicas share the stream for a while
    assert not stream.done, "the stream ended before scaling in: raise minimum"
    for replica in extra:  # 3 -> 1
        assert replica.terminate() == 0, replica.output()[-2000:]
    wait_taken_over(_all(topic), [first])
    scaled = True

    _finish(stream, ledger, [first])
    tally = ledger.tally(stream.ids())
    print(
        f"\nscale 1->3->1: {tally.line()} delivered_when_three_joined={out_at_three} "
        f"{rebalance_log(tmp_path)} "
        f"elapsed_s={time.monotonic() - started:.1f}"
    )
    assert tally.lost == 0
    assert tally.duplicates == 0  # every stop was graceful
    assert committed_total(bootstrap, group, topic, PARTITIONS) == tally.expected
