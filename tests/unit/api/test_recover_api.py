"""``…/endpoints/{id}/recover``: the request record, one at a time, progress shown."""

from __future__ import annotations

import time

from kafkahooks.endpoints import encode_job, recover_key
from tests.unit.api.conftest import Api


def _bridge_writes(api: Api, eid: str, **changes: object) -> None:
    """What a bridge's recover runner writes over the job in force."""
    table = api.store.tables.endpoints
    held = table.recover_of(eid)
    assert held is not None
    api.store.put(recover_key(eid), encode_job(held.with_(**changes), held.offset))


def test_recover_is_accepted_shown_and_one_at_a_time(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    eid = api.create(acme)["id"]
    since = time.time() - 3600
    started = acme.post(f"/v1/endpoints/{eid}/recover", json={"since": since})
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["state"] == "requested" and job["since"] == since and job["job"].startswith("rcv_")
    assert started.headers["Location"].endswith(f"/recover/{job['job']}")
    again = acme.post(f"/v1/endpoints/{eid}/recover", json={"since": since})
    assert again.status_code == 409

    _bridge_writes(api, eid, state="running", writer="b1", started=1.0, scanned=5, resent=2)
    shown = acme.get(f"/v1/endpoints/{eid}/recover/{job['job']}").json()
    assert (shown["state"], shown["scanned"], shown["resent"]) == ("running", 5, 2)
    assert acme.post(f"/v1/endpoints/{eid}/recover", json={"since": since}).status_code == 409

    _bridge_writes(api, eid, state="done", finished=2.0)
    assert acme.get(f"/v1/endpoints/{eid}/recover/{job['job']}").json()["state"] == "done"
    second = acme.post(f"/v1/endpoints/{eid}/recover", json={"since": since})
    assert second.status_code == 202 and second.json()["job"] != job["job"]
    assert acme.get(f"/v1/endpoints/{eid}/recover/{job['job']}").status_code == 404
    assert any(r.get("action") == "recover" for r in api.audit.records)


def test_recover_is_tenant_scoped_checked_and_goes_with_its_endpoint(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    other = api.client(api.tenant_token("other"))
    eid = api.create(acme)["id"]
    now = time.time()
    assert other.post(f"/v1/endpoints/{eid}/recover", json={"since": now}).status_code == 404
    assert acme.post(f"/v1/endpoints/{eid}/recover", json={}).status_code == 422
    assert acme.post(f"/v1/endpoints/{eid}/recover", json={"since": now + 3600}).status_code == 422
    job = acme.post(f"/v1/endpoints/{eid}/recover", json={"since": now - 60}).json()["job"]
    assert other.get(f"/v1/endpoints/{eid}/recover/{job}").status_code == 404
    assert acme.delete(f"/v1/endpoints/{eid}").status_code == 204
    assert (recover_key(eid), None) in api.store.records
    assert api.store.tables.endpoints.recover_of(eid) is None
