"""The bridge's recover runner, claims and progress over an in-memory store (the scan of
the dead-letter topics is the integration test's: tests/integration/test_api.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kafkahooks.app.recover import RecoverRunner
from kafkahooks.endpoints import (
    EndpointSpec,
    EndpointTable,
    Keyring,
    RecoverJob,
    create_endpoint,
    encode_endpoint,
    encode_job,
    generate_key_spec,
    recover_key,
)
from tests.support.api import routes_file


class MemoryLog:
    """What the runner needs of a StoreLog: write (acknowledged) and the applied offset."""

    def __init__(self, table: EndpointTable) -> None:
        self.table = table
        self.count = 0
        self.before_write: Callable[[], None] | None = None

    @property
    def applied(self) -> int:
        return self.count - 1

    def put(self, key: str, value: bytes | None) -> int:
        offset = self.count
        self.count += 1
        self.table.apply(key, value, offset)
        return offset

    def write(self, key: str, value: bytes | None, timeout: float) -> int:
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook()  # another replica's record lands first
        return self.put(key, value)


class Runner(RecoverRunner):
    """The runner with the scan replaced: it records the jobs it would run."""

    ran: list[RecoverJob]

    def _scan(self, job: RecoverJob) -> RecoverJob:
        self.ran.append(job)
        return job.with_(scanned=4, resent=2)


def _setup(now: float = 1000.0) -> tuple[Runner, MemoryLog, str]:
    keyring = Keyring.parse(generate_key_spec("k1"))
    table = EndpointTable(keyring)
    log = MemoryLog(table)
    ep = create_endpoint(EndpointSpec.parse({"url": "https://hooks.example/in"}), "acme", now=0.0)
    log.put(ep.id, encode_endpoint(ep, keyring, -1, 0.0))
    runner = Runner(routes_file(), table, log, clock=lambda: now)  # type: ignore[arg-type]
    runner.ran = []
    return runner, log, ep.id


def _request(log: MemoryLog, eid: str, **fields: Any) -> RecoverJob:
    job = RecoverJob(eid, "rcv_1", since=10.0, requested=990.0, updated=990.0).with_(**fields)
    log.put(recover_key(eid), encode_job(job, log.table.offset_of(recover_key(eid))))
    held = log.table.recover_of(eid)
    assert held is not None
    return held


def test_a_requested_job_is_claimed_run_and_done() -> None:
    runner, log, eid = _setup()
    _request(log, eid)
    runner.run_once()
    assert [j.writer for j in runner.ran] == [runner.writer_id]
    done = log.table.recover_of(eid)
    assert done is not None and (done.state, done.scanned, done.resent) == ("done", 4, 2)
    assert done.started == 1000.0 and done.finished == 1000.0
    runner.run_once()  # nothing left to run
    assert len(runner.ran) == 1


def test_a_claim_that_loses_to_another_bridge_does_not_run() -> None:
    runner, log, eid = _setup()
    request = _request(log, eid)
    theirs = request.with_(state="running", writer="other", updated=1000.0)
    log.before_write = lambda: log.put(recover_key(eid), encode_job(theirs, request.offset))
    runner.run_once()
    assert runner.ran == []
    held = log.table.recover_of(eid)
    assert held is not None and held.writer == "other" and held.state == "running"


def test_a_stale_running_job_is_taken_over_and_a_fresh_one_is_not() -> None:
    runner, log, eid = _setup(now=1000.0)
    _request(log, eid, state="running", writer="gone", updated=990.0)  # 10 s ago: alive
    runner.run_once()
    assert runner.ran == []
    stale, log2, eid2 = _setup(now=1000.0)
    _request(log2, eid2, state="running", writer="gone", updated=900.0)  # 100 s ago
    stale.run_once()
    assert [j.writer for j in stale.ran] == [stale.writer_id]
