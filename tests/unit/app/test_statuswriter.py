"""StatusWriter: carries out the endpoint health's decisions; a failed write is decided again,
an event goes to the events topic, and nothing here raises into the caller's thread."""

from __future__ import annotations

from kafkahooks.app.statuswriter import StatusWriter
from kafkahooks.endpoints import (
    EndpointHealth,
    EndpointTable,
    Keyring,
    encode_endpoint,
    generate_key_spec,
)
from kafkahooks.kafka import StoreWriteError
from tests.support.tenants import endpoint


class FakeLog:
    """A store log that refuses the first ``refuse`` writes and applies the others."""

    def __init__(self, table: EndpointTable, refuse: int = 0) -> None:
        self.table, self.refuse = table, refuse
        self.records: list[tuple[str, bytes | None]] = []
        self.published: list[tuple[str, str, bytes]] = []

    def write_many(
        self, records: list[tuple[str, bytes | None]], timeout: float
    ) -> list[int | StoreWriteError]:
        results: list[int | StoreWriteError] = []
        for key, value in records:
            if self.refuse:
                self.refuse -= 1
                results.append(StoreWriteError("not acknowledged"))
                continue
            self.records.append((key, value))
            self.table.apply(key, value, len(self.records) - 1)
            results.append(len(self.records) - 1)
        return results

    def publish(self, topic: str, key: str, value: bytes, timeout: float) -> int:
        self.published.append((topic, key, value))
        return len(self.published) - 1


def _setup(refuse: int = 0) -> tuple[EndpointHealth, FakeLog, StatusWriter, str, int]:
    keyring = Keyring.parse(generate_key_spec("k1"))
    table = EndpointTable(keyring)
    log = FakeLog(table, refuse)
    ep = endpoint("ep_1", tenant="acme")
    log.records.append((ep.id, encode_endpoint(ep, keyring, -1, 0.0)))
    table.apply(ep.id, log.records[0][1], 0)
    health = EndpointHealth(table, writer_id="me", interval=0.0)
    table.listener = health
    writer = StatusWriter(health, log, "endpoint-events")  # type: ignore[arg-type]
    return health, log, writer, ep.id, 0


def test_a_disable_is_written_and_announced_on_the_events_topic() -> None:
    health, log, writer, ep_id, offset = _setup()
    health.observe(ep_id, offset, False, 410, 100.0)
    writer.run_once(100.0)
    assert [key for key, _ in log.records[1:]] == [f"health/{ep_id}"]
    writer.run_once(100.5)  # the event found when the record applied
    assert [(t, k) for t, k, _ in log.published] == [("endpoint-events", ep_id)]
    assert (writer.written, writer.published) == (1, 1)


def test_a_write_not_acknowledged_is_decided_again() -> None:
    health, log, writer, ep_id, offset = _setup(refuse=1)
    health.observe(ep_id, offset, False, 503, 100.0)
    writer.run_once(100.0)
    assert log.records[1:] == [] and writer.written == 0
    writer.run_once(101.0)
    assert [key for key, _ in log.records[1:]] == [f"health/{ep_id}"]
    status = log.table.status_of(ep_id)
    assert status is not None and status.failing_since == 100.0  # the first failure's time
