"""Helpers for running several replicas of the bridge in one consumer group."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.support.bridge import BridgeProcess, wait_until
from tests.support.kafka import committed
from tests.support.logs import logged, owned_partitions

Start = Callable[..., BridgeProcess]


def replica_env(window: int, commit_every: int, max_in_flight: int = 50) -> dict[str, str]:
    return {
        "KAFKAHOOKS_WINDOW": str(window),
        "KAFKAHOOKS_COMMIT_EVERY": str(commit_every),
        "KAFKAHOOKS_MAX_IN_FLIGHT": str(max_in_flight),
    }


def check_alive(bridges: Iterable[BridgeProcess]) -> None:
    """Fail at once, with its last words, when a replica died that should be running."""
    for bridge in bridges:
        if not bridge.alive():
            tail = bridge.output()[-1500:]
            raise AssertionError(f"a replica exited with {bridge.proc.returncode}:\n{tail}")


def owned_by(bridges: Iterable[BridgeProcess]) -> set[str]:
    out: set[str] = set()
    for bridge in bridges:
        out |= owned_partitions(bridge.output())
    return out


def wait_owning(bridge: BridgeProcess, timeout: float = 30) -> set[str]:
    """Wait until ``bridge`` owns at least one partition; return what it owns."""

    def owns() -> bool:
        check_alive([bridge])
        return bool(owned_partitions(bridge.output()))

    wait_until(owns, timeout=timeout, interval=0.2)
    return owned_partitions(bridge.output())


def wait_taken_over(partitions: set[str], by: list[BridgeProcess], timeout: float = 30) -> float:
    """Seconds until ``partitions`` are all owned by ``by`` (the failover time)."""
    started = time.monotonic()

    def taken() -> bool:
        check_alive(by)
        return partitions <= owned_by(by)

    wait_until(taken, timeout=timeout, interval=0.1)
    return time.monotonic() - started


def wait_settled(
    bridges: list[BridgeProcess], partitions: set[str], quiet: float = 1.0, timeout: float = 45
) -> None:
    """Wait until ``bridges`` own exactly ``partitions`` between them, each partition once,
    and nothing moved for ``quiet`` seconds: no rebalance is under way."""

    def split() -> tuple[int, set[str]]:
        owned = [owned_partitions(b.output()) for b in bridges]
        return sum(len(o) for o in owned), set().union(*owned)

    stable_since: list[float] = []

    def settled() -> bool:
        check_alive(bridges)
        count, union = split()
        if count != len(partitions) or union != partitions:
            stable_since.clear()
            return False
        if not stable_since:
            stable_since.append(time.monotonic())
        return time.monotonic() - stable_since[0] >= quiet

    wait_until(settled, timeout=timeout, interval=0.2)


def rebalance_log(folder: Path) -> str:
    """Revocations and lost-partition events logged by the replicas whose logs are in ``folder``."""
    outputs = [p.read_text(errors="replace") for p in sorted(folder.glob("bridge-*.log"))]
    revoked = sum(len(logged(o, "partitions revoked")) for o in outputs)
    lost = sum(len(logged(o, "partitions lost")) for o in outputs)
    return f"revocations={revoked} partitions_lost_events={lost}"


def committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Events covered by the group's commits (a partition never committed counts 0)."""
    return sum(max(0, o) for o in committed(bootstrap, group, topic, partitions))


def metrics_env(port: int) -> dict[str, str]:
    """Serve /metrics on a loopback port (BridgeProcess turns the server off by default)."""
    return {"KAFKAHOOKS_HTTP_PORT": str(port), "KAFKAHOOKS_HTTP_HOST": "127.0.0.1"}


def calls(first: int, n: int, keys: int) -> list[tuple[str | None, object]]:
    return [
        (f"call-{i % keys}", {"event": "e", "id": i, "status": "s"})
        for i in range(first, first + n)
    ]
