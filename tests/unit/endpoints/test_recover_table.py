"""EndpointTable and recover jobs (``recover/<id>``): the revision rule per key (one
claim wins), unknown endpoints ignored, a deleted endpoint's job dropped."""

from __future__ import annotations

from kafkahooks.endpoints import (
    EndpointSpec,
    EndpointTable,
    Keyring,
    RecoverJob,
    create_endpoint,
    encode_endpoint,
    encode_job,
    generate_key_spec,
    parse_job,
    recover_key,
)


class Store:
    def __init__(self) -> None:
        self.keyring = Keyring.parse(generate_key_spec("k1"))
        self.table = EndpointTable(self.keyring)
        self.count = 0

    def put(self, key: str, value: bytes | None) -> int:
        offset = self.count
        self.count += 1
        self.table.apply(key, value, offset)
        return offset


def _endpoint(store: Store) -> str:
    ep = create_endpoint(EndpointSpec.parse({"url": "https://hooks.example/in"}), "acme", now=0.0)
    store.put(ep.id, encode_endpoint(ep, store.keyring, -1, 0.0))
    return ep.id


def test_the_first_claim_applied_wins_and_progress_follows_it() -> None:
    store = Store()
    eid = _endpoint(store)
    request = RecoverJob(eid, "rcv_1", since=10.0, requested=20.0, updated=20.0)
    asked = store.put(recover_key(eid), encode_job(request, -1))
    assert store.table.offset_of(recover_key(eid)) == asked
    claim_a = request.with_(state="running", writer="a", started=21.0, updated=21.0)
    claim_b = request.with_(state="running", writer="b", started=21.0, updated=21.0)
    won = store.put(recover_key(eid), encode_job(claim_a, asked))
    store.put(recover_key(eid), encode_job(claim_b, asked))  # names the same revision: loses
    held = store.table.recover_of(eid)
    assert held is not None and held.writer == "a" and held.offset == won
    assert store.table.conflicts_ignored == 1
    done = held.with_(state="done", scanned=3, resent=2, finished=30.0)
    store.put(recover_key(eid), encode_job(done, won))
    final = store.table.recover_of(eid)
    assert final is not None and (final.state, final.resent, final.active) == ("done", 2, False)


def test_jobs_of_unknown_or_deleted_endpoints_are_not_held() -> None:
    store = Store()
    store.put(recover_key("ep_unknown"), encode_job(RecoverJob("ep_unknown", "r", 1, 1), -1))
    assert store.table.recover_jobs() == ()
    eid = _endpoint(store)
    store.put(recover_key(eid), encode_job(RecoverJob(eid, "r", 1, 1), -1))
    assert len(store.table.recover_jobs()) == 1
    store.put(eid, None)
    assert store.table.recover_of(eid) is None


def test_a_job_record_round_trips_and_a_stale_one_is_claimable() -> None:
    job = RecoverJob("ep_x", "rcv_2", 5.0, 6.0, "running", "w", 7, 3, 6.5, None, 100.0, None)
    parsed, revision = parse_job(recover_key("ep_x"), encode_job(job, 41), 42)
    assert parsed == job.with_(offset=42) and revision == 41
    assert not parsed.stale(110.0) and parsed.stale(131.0)
