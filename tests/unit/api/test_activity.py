"""An endpoint's attempts and stats through the API, over a fake read model."""

from __future__ import annotations

from kafkahooks.api import AttemptIndex, AttemptsPage, StatusFilter
from kafkahooks.kafka import AttemptRecord
from tests.unit.api.conftest import Api

NOW = 1_800_000_000.0


class FakeAttempts:
    """The read model over an in-memory index (the real one feeds it from the log)."""

    def __init__(self) -> None:
        self.index = AttemptIndex(NOW - 3600, clock=lambda: NOW)
        self.asked: list[dict[str, object]] = []

    def attempts(
        self,
        endpoint_id: str,
        *,
        status: StatusFilter | None = None,
        since: float | None = None,
        limit: int = 50,
        timeout: float = 5.0,
    ) -> AttemptsPage:
        self.asked.append({"status": status, "since": since, "limit": limit})
        answer = self.index.attempts(endpoint_id, status=status, since=since, limit=limit)
        return AttemptsPage(answer.attempts, True, "memory")

    def stats(self, endpoint_id: str):  # type: ignore[no-untyped-def]
        return self.index.stats(endpoint_id)


def _with_attempts(api: Api) -> FakeAttempts:
    fake = FakeAttempts()
    api.ctx.attempts = fake
    return fake


def test_attempts_and_stats_of_the_tenants_endpoint(api: Api) -> None:
    fake = _with_attempts(api)
    acme = api.client(api.tenant_token("acme"))
    eid = api.create(acme)["id"]
    fake.index.add_many([
        AttemptRecord("evt_1", "calls", 1, 503, 120.0, "HTTP 503", NOW - 60, endpoint_id=eid),
        AttemptRecord("evt_1", "calls", 2, 200, 40.0, None, NOW - 30, endpoint_id=eid),
    ])  # fmt: skip
    got = acme.get(f"/v1/endpoints/{eid}/attempts")
    assert got.status_code == 200, got.text
    body = got.json()
    assert [(a["attempt"], a["status"]) for a in body["data"]] == [(2, 200), (1, 503)]
    assert body["complete"] is True and body["source"] == "memory"

    failed = acme.get(f"/v1/endpoints/{eid}/attempts", params={"status": "5xx", "limit": 5})
    assert [a["status"] for a in failed.json()["data"]] == [503]
    assert fake.asked[-1]["limit"] == 5

    stats = api.admin.get(f"/v1/tenants/acme/endpoints/{eid}/stats")
    assert stats.status_code == 200, stats.text
    figures = stats.json()
    assert (figures["attempts"], figures["deliveries"], figures["failures"]) == (2, 1, 1)
    assert "bucket" in figures["method"]
    assert figures["p50"]["low_ms"] <= figures["p50"]["estimate_ms"]


def test_another_tenants_endpoint_is_not_found_and_bad_filters_are_422(api: Api) -> None:
    _with_attempts(api)
    acme = api.client(api.tenant_token("acme"))
    other = api.client(api.tenant_token("other"))
    eid = api.create(acme)["id"]
    assert other.get(f"/v1/endpoints/{eid}/attempts").status_code == 404
    assert other.get(f"/v1/endpoints/{eid}/stats").status_code == 404
    assert other.get(f"/v1/tenants/acme/endpoints/{eid}/stats").status_code == 404
    bad = acme.get(f"/v1/endpoints/{eid}/attempts", params={"status": "sometimes"})
    assert bad.status_code == 422 and bad.json()["error"]["errors"][0]["field"] == "status"
    assert acme.get(f"/v1/endpoints/{eid}/attempts", params={"limit": 0}).status_code == 422


def test_a_replica_without_the_read_model_answers_503(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    eid = api.create(acme)["id"]
    assert acme.get(f"/v1/endpoints/{eid}/stats").status_code == 503
