"""EndpointHealth: the failure clock, disables (clock and 410), the write interval, events
announced once by the replica whose record applied; with a fake clock and an in-memory store
log shared by replicas (each its own table, applying the log in offset order)."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from kafkahooks.endpoints import (
    Disable,
    Endpoint,
    EndpointHealth,
    EndpointStatus,
    EndpointTable,
    HealthWork,
    Keyring,
    decide,
    encode_endpoint,
    set_active,
    status_key,
)

DAY = 86400.0
PERIOD = 5 * DAY


class Cluster:
    """One store log and its replicas: a write is appended, then applied everywhere."""

    def __init__(self, keyring: Keyring, replicas: int = 1, interval: float = 60.0) -> None:
        self.keyring = keyring
        self.log: list[tuple[str, bytes | None]] = []
        self.now = 1_800_000_000.0
        self.tables = [EndpointTable(keyring) for _ in range(replicas)]
        self.health = []
        for n, table in enumerate(self.tables):
            health = EndpointHealth(
                table,
                writer_id=f"replica-{n}",
                period=PERIOD,
                interval=interval,
                clock=lambda: self.now,
            )
            table.listener = health
            self.health.append(health)

    def put(self, key: str, value: bytes | None) -> int:
        self.log.append((key, value))
        offset = len(self.log) - 1
        for table in self.tables:
            table.apply(key, value, offset)
        return offset

    def endpoint(self, ep: Endpoint, revision: int) -> Endpoint:
        return replace(
            ep, offset=self.put(ep.id, encode_endpoint(ep, self.keyring, revision, self.now))
        )

    def tick(self, replica: int = 0) -> HealthWork:
        """One writer round of ``replica``: its writes land in the log."""
        work = self.health[replica].tick(self.now)
        for key, value in work.writes:
            self.put(key, value)
        return work

    def status(self, ep_id: str, replica: int = 0) -> EndpointStatus | None:
        return self.tables[replica].status_of(ep_id)

    def get(self, ep_id: str, replica: int = 0) -> Endpoint:
        ep = self.tables[replica].get(ep_id)
        assert ep is not None
        return ep


def _events(work: HealthWork) -> list[dict[str, object]]:
    return [orjson.loads(value) for _key, value in work.events]


@pytest.fixture
def cluster(keyring: Keyring) -> Cluster:
    return Cluster(keyring)


def test_decide_is_the_clock() -> None:
    clock = EndpointStatus(7, failing_since=100.0)
    assert decide(None, True, 200, 50.0, PERIOD) is None
    assert decide(None, False, 503, 50.0, PERIOD) == (50.0, None)
    assert decide(clock, False, 503, 100.0 + PERIOD - 1, PERIOD) is None
    since, disabled = decide(clock, False, None, 100.0 + PERIOD, PERIOD) or (None, None)
    assert since == 100.0 and disabled is not None and disabled.reason == "failing"
    assert "no successful delivery for 5d" in disabled.detail
    assert decide(clock, True, 204, 200.0, PERIOD) == (None, None)
    assert decide(None, False, 410, 60.0, PERIOD) == (60.0, Disable("gone", 60.0, "HTTP 410 Gone"))
    assert decide(clock, False, 503, 100.0 + 10 * PERIOD, None) is None  # no clock disable
    off = EndpointStatus(7, 100.0, Disable("gone", 1.0))
    assert decide(off, False, 410, 500.0, PERIOD) is None


def test_the_first_failure_starts_the_clock_and_the_period_disables(
    cluster: Cluster, endpoint: Endpoint
) -> None:
    ep = cluster.endpoint(endpoint, -1)
    health = cluster.health[0]
    health.observe(ep.id, ep.offset, True, 200, cluster.now)
    assert health.waiting == 0  # healthy: nothing to decide
    start = cluster.now
    health.observe(ep.id, ep.offset, False, 503, start)
    assert len(cluster.tick().writes) == 1
    assert cluster.status(ep.id) == EndpointStatus(ep.offset, start, None, "replica-0", 1)
    # failing on: no more writes, ever, until the period is over
    for hours in range(1, 5 * 24, 7):
        cluster.now = start + hours * 3600
        health.observe(ep.id, ep.offset, False, None, cluster.now)
        assert health.waiting == 0 and cluster.tick().writes == []
    cluster.now = start + PERIOD
    health.observe(ep.id, ep.offset, False, 500, cluster.now)
    work = cluster.tick()
    assert len(work.writes) == 1
    held = cluster.get(ep.id)
    assert held.active and not held.enabled
    assert held.status is not None and held.status.disabled is not None
    assert held.status.disabled.reason == "failing" and held.status.failing_since == start
    # the event comes from the follower's apply, produced at the next round
    (event,) = _events(cluster.tick())
    assert event["type"] == "endpoint.disabled"
    assert event["data"] == {
        "endpoint_id": ep.id,
        "tenant": ep.tenant,
        "reason": "failing",
        "detail": held.status.disabled.detail,
        "failing_since": start,
        "time": cluster.now,
        "endpoint_revision": ep.offset,
        "status_offset": held.status.offset,
    }
    assert "hooks.example.com" not in str(event) and "SECRET" not in str(event)


def test_a_success_clears_the_clock(cluster: Cluster, endpoint: Endpoint) -> None:
    ep = cluster.endpoint(endpoint, -1)
    health = cluster.health[0]
    health.observe(ep.id, ep.offset, False, 503, cluster.now)
    cluster.tick()
    cluster.now += 3600
    health.observe(ep.id, ep.offset, True, 200, cluster.now)
    assert len(cluster.tick().writes) == 1
    status = cluster.status(ep.id)
    assert status is not None and status.failing_since is None
    cluster.now += 3600
    health.observe(ep.id, ep.offset, True, 200, cluster.now)
    assert health.waiting == 0  # healthy again: no write


def test_at_most_one_write_per_endpoint_per_interval_and_none_is_lost(
    cluster: Cluster, endpoint: Endpoint
) -> None:
    ep = cluster.endpoint(endpoint, -1)
    health = cluster.health[0]
    health.observe(ep.id, ep.offset, False, 503, cluster.now)
    cluster.tick()
    cluster.now += 5
    health.observe(ep.id, ep.offset, True, 200, cluster.now)
    assert cluster.tick().writes == []  # 5 s after its last write: waits
    cluster.now += 30
    assert cluster.tick().writes == []
    cluster.now += 30
    assert len(cluster.tick().writes) == 1  # the interval passed: the clear is written
    status = cluster.status(ep.id)
    assert status is not None and status.failing_since is None


def test_a_410_disables_that_endpoint_only(
    cluster: Cluster, endpoint: Endpoint, keyring: Keyring
) -> None:
    ep = cluster.endpoint(endpoint, -1)
    other = cluster.endpoint(replace(endpoint, id=endpoint.id[:-1] + "Z"), -1)
    cluster.health[0].observe(ep.id, ep.offset, False, 410, cluster.now)
    cluster.tick()
    assert not cluster.get(ep.id).enabled and cluster.get(other.id).enabled
    status = cluster.status(ep.id)
    assert status is not None and status.disabled == Disable("gone", cluster.now, "HTTP 410 Gone")
    (event,) = _events(cluster.tick())
    assert (event["type"], event["data"]["reason"]) == ("endpoint.disabled", "gone")  # type: ignore[index]


def test_replicas_deciding_at_once_resolve_to_one_record_and_one_event(
    keyring: Keyring, endpoint: Endpoint
) -> None:
    cluster = Cluster(keyring, replicas=3)
    ep = cluster.endpoint(endpoint, -1)
    for health in cluster.health:
        health.observe(ep.id, ep.offset, False, 410, cluster.now)
    works = [cluster.health[n].tick(cluster.now) for n in range(3)]  # all decide first
    for work in works:
        for key, value in work.writes:
            cluster.put(key, value)
    assert cluster.tables[0].conflicts_ignored == 2
    assert {table.status_of(ep.id) for table in cluster.tables} == {cluster.status(ep.id)}
    events = [e for n in range(3) for e in _events(cluster.tick(n))]
    assert [e["type"] for e in events] == ["endpoint.disabled"]


def test_a_new_revision_voids_the_disable_and_its_clock_and_one_enable_is_announced(
    keyring: Keyring, endpoint: Endpoint
) -> None:
    cluster = Cluster(keyring, replicas=2)
    ep = cluster.endpoint(endpoint, -1)
    cluster.health[1].observe(ep.id, ep.offset, False, 410, cluster.now)
    cluster.tick(1)
    cluster.tick(1)  # its disable event
    cluster.now += DAY
    again = cluster.endpoint(set_active(ep, True, cluster.now), ep.offset)  # the tenant
    assert cluster.get(again.id).enabled and cluster.get(again.id, 1).enabled
    writes = [w for n in (0, 1) for w in cluster.health[n].tick(cluster.now).writes]
    assert len(writes) == 2  # both replicas clear the void disable; the first applies
    for key, value in writes:
        cluster.put(key, value)
    status = cluster.status(ep.id)
    assert status is not None and (status.failing_since, status.disabled) == (None, None)
    assert status.about(again.offset) and cluster.tables[0].conflicts_ignored == 1
    events = [e for n in (0, 1) for e in _events(cluster.tick(n))]
    assert [(e["type"], e["data"]["reason"]) for e in events] == [  # type: ignore[index]
        ("endpoint.enabled", "endpoint-changed")
    ]
    # a fresh clock: the next failure starts it again, with nothing disabled
    cluster.now += 7 * DAY
    cluster.health[0].observe(ep.id, again.offset, False, 503, cluster.now)
    cluster.tick()
    status = cluster.status(ep.id)
    assert status is not None and status.failing_since == cluster.now and status.disabled is None


def test_an_answer_from_a_replaced_version_decides_nothing(
    cluster: Cluster, endpoint: Endpoint
) -> None:
    ep = cluster.endpoint(endpoint, -1)
    new = cluster.endpoint(set_active(ep, True, cluster.now), ep.offset)
    cluster.health[0].observe(ep.id, ep.offset, False, 410, cluster.now)
    assert cluster.tick().writes == []
    assert cluster.get(new.id).enabled


def test_a_status_without_its_endpoint_is_tombstoned_after_a_grace(
    cluster: Cluster, endpoint: Endpoint
) -> None:
    ep = cluster.endpoint(endpoint, -1)
    cluster.health[0].observe(ep.id, ep.offset, False, 503, cluster.now)
    cluster.tick()
    cluster.put(ep.id, None)  # deleted by a writer that left its status behind
    assert cluster.tick().writes == []  # a deleting writer tombstones it itself, right after
    cluster.now += 3
    assert cluster.tick().writes == [(status_key(ep.id), None)]
    assert cluster.tables[0].orphans() == ()
    cluster.now += 3
    assert cluster.tick().writes == []


def test_a_failed_write_is_decided_again(cluster: Cluster, endpoint: Endpoint) -> None:
    ep = cluster.endpoint(endpoint, -1)
    health = cluster.health[0]
    health.observe(ep.id, ep.offset, False, 410, cluster.now)
    lost = health.tick(cluster.now)  # never reaches the log
    assert len(lost.writes) == 1
    health.retry(lost.writes[0][0])
    cluster.now += 1  # decided again on the same 410, without waiting for the interval
    assert len(cluster.tick().writes) == 1
    assert not cluster.get(ep.id).enabled


def test_the_tenants_own_disable_is_not_announced_as_an_enable(
    keyring: Keyring, endpoint: Endpoint
) -> None:
    cluster = Cluster(keyring)
    ep = cluster.endpoint(endpoint, -1)
    cluster.health[0].observe(ep.id, ep.offset, False, 410, cluster.now)
    cluster.tick()
    cluster.tick()
    cluster.endpoint(set_active(ep, False, cluster.now), ep.offset)
    assert cluster.tick().writes == []  # within the interval of this replica's last write
    cluster.now += 60
    assert len(cluster.tick().writes) == 1  # the void disable is cleared
    assert cluster.tick().events == []
