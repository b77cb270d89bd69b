"""The endpoint resources as a customer uses them, over an in-memory store."""

from __future__ import annotations

import json

import pytest

from kafkahooks.endpoints import create_endpoint, encode_endpoint, update_endpoint
from tests.unit.api.conftest import URL, Api


def test_lifecycle_with_a_tenant_token(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    created = api.create(acme, description="prod", event_types=["status-changed"],
                         secret_headers={"Authorization": "Bearer h3ader-s3cret"})  # fmt: skip
    secret = created["signing_secret"]
    assert secret.startswith("whsec_")
    eid = created["id"]
    got = acme.get(f"/v1/endpoints/{eid}")
    assert got.status_code == 200
    body = got.text
    assert secret not in body and "h3ader-s3cret" not in body and "p4th-s3cret" not in body
    assert got.json()["secret_headers"] == ["Authorization"]
    assert got.headers["ETag"] == f'"{got.json()["offset"]}"'
    assert got.headers["Kafkahooks-Request-Id"].startswith("req_")
    assert got.headers["Cache-Control"] == "no-store"
    # the same through the tenant's full path
    assert acme.get(f"/v1/tenants/acme/endpoints/{eid}").json()["id"] == eid

    patched = acme.patch(f"/v1/endpoints/{eid}", json={"description": "staging", "active": False})
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "staging" and patched.json()["active"] is False
    offset = int(patched.headers["Kafkahooks-Store-Offset"])
    assert patched.headers["ETag"] == f'"{offset}"'

    listed = acme.get("/v1/endpoints").json()
    assert [e["id"] for e in listed["data"]] == [eid] and listed["next_cursor"] is None
    assert secret not in json.dumps(listed)

    rotated = acme.post(f"/v1/endpoints/{eid}/secret/rotate", json={"expire_previous": "1h"})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["signing_secret"] not in (secret, None)
    assert len(rotated.json()["endpoint"]["secrets"]) == 2

    assert acme.delete(f"/v1/endpoints/{eid}").status_code == 204
    assert acme.get(f"/v1/endpoints/{eid}").status_code == 404


def test_the_secret_is_shown_once_and_to_admins_only_after(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    created = api.create(acme)
    eid, secret = created["id"], created["signing_secret"]
    assert acme.get(f"/v1/endpoints/{eid}/secret").status_code == 403
    revealed = api.admin.get(f"/v1/tenants/acme/endpoints/{eid}/secret")
    assert revealed.status_code == 200
    assert revealed.json()["secrets"][0]["signing_secret"] == secret
    for record in api.audit.records:
        assert secret not in json.dumps(record)


def test_tenant_isolation_on_every_resource(api: Api) -> None:
    acme, other = api.client(api.tenant_token("acme")), api.client(api.tenant_token("globex"))
    eid = api.create(acme)["id"]
    for client, path in [
        (other, f"/v1/endpoints/{eid}"),
        (other, f"/v1/tenants/acme/endpoints/{eid}"),
        (other, "/v1/tenants/acme/endpoints"),
        (other, "/v1/tenants/acme/tokens"),
        (acme, "/v1/tenants/acme/tokens"),  # a tenant token issues no tokens
        (other, f"/v1/endpoints/{eid}/secret"),
    ]:
        assert client.get(path).status_code == 404, path
    assert other.patch(f"/v1/endpoints/{eid}", json={"active": False}).status_code == 404
    assert other.post(f"/v1/endpoints/{eid}/secret/rotate", json={}).status_code == 404
    assert other.delete(f"/v1/endpoints/{eid}").status_code == 404
    assert other.post("/v1/tenants/acme/endpoints", json={"url": URL}).status_code == 404
    assert other.get("/v1/endpoints").json()["data"] == []
    assert acme.get(f"/v1/endpoints/{eid}").status_code == 200  # untouched


def test_missing_invalid_revoked_and_expired_tokens_get_the_same_401(api: Api) -> None:
    token = api.tenant_token("acme")
    token_id = token.split("_")[1]
    expired = api.tenant_token("acme", expires_in=60)
    api.ctx.clock = lambda: __import__("time").time() + 120  # two minutes later
    assert api.admin.delete(f"/v1/tenants/acme/tokens/{token_id}").status_code == 204
    answers = [
        api.client(None).get("/v1/endpoints"),
        api.client("kht_nosuch_" + "a" * 48).get("/v1/endpoints"),
        api.client(token[:-1] + ("b" if token[-1] != "b" else "c")).get("/v1/endpoints"),
        api.client("not-a-token").get("/v1/endpoints"),
        api.client(token).get("/v1/endpoints"),  # revoked
        api.client(expired).get("/v1/endpoints"),
    ]
    assert {a.status_code for a in answers} == {401}
    assert len({a.text for a in answers}) == 1
    assert token.split("_")[2] not in json.dumps(api.audit.records)


def test_an_admin_token_names_the_tenant(api: Api) -> None:
    assert api.admin.get("/v1/endpoints").status_code == 404
    created = api.create(api.admin, "acme")
    assert api.admin.get(f"/v1/tenants/acme/endpoints/{created['id']}").status_code == 200


def test_idempotent_create_answers_the_first_answer(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    headers = {"Idempotency-Key": "order-42"}
    first = acme.post("/v1/endpoints", json={"url": URL, "description": "a"}, headers=headers)
    again = acme.post("/v1/endpoints", json={"description": "a", "url": URL}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()  # the secret included
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(acme.get("/v1/endpoints").json()["data"]) == 1
    other_body = acme.post("/v1/endpoints", json={"url": URL, "description": "b"}, headers=headers)
    assert other_body.status_code == 422
    # another tenant's same key is its own
    globex = api.client(api.tenant_token("globex"))
    assert (
        globex.post("/v1/endpoints", json={"url": URL}, headers=headers).json()["id"]
        != first.json()["id"]
    )
    # the stored answer holds the secret sealed only
    raw = b"".join(v or b"" for _, v in api.store.records)
    assert first.json()["signing_secret"].encode() not in raw


def test_if_match_stale_is_412_and_a_lost_race_is_409(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    created = api.create(acme)
    eid, etag = created["id"], f'"{created["offset"]}"'
    first = acme.patch(
        f"/v1/endpoints/{eid}", json={"description": "x"}, headers={"If-Match": etag}
    )
    assert first.status_code == 200
    stale = acme.patch(
        f"/v1/endpoints/{eid}", json={"description": "y"}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412
    assert acme.delete(f"/v1/endpoints/{eid}", headers={"If-Match": etag}).status_code == 412

    def someone_else(_key: str) -> None:  # another writer's update lands first
        ep = api.store.tables.endpoints.get(eid)
        assert ep is not None
        theirs = update_endpoint(ep, {"description": "theirs"}, 0.0)
        api.store.put(eid, encode_endpoint(theirs, api.store.tables.keyring, ep.offset, 0.0))

    api.store.before_write = someone_else
    lost = acme.patch(f"/v1/endpoints/{eid}", json={"description": "mine"})
    assert lost.status_code == 409
    assert acme.get(f"/v1/endpoints/{eid}").json()["description"] == "theirs"
    assert api.audit.records[-1]["result"] == "conflict"


def test_pages_never_repeat_or_skip_under_edits_and_deletes(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    ids = [api.create(acme, description=str(i))["id"] for i in range(7)]
    seen: list[str] = []
    page = acme.get("/v1/endpoints", params={"limit": 3}).json()
    seen += [e["id"] for e in page["data"]]
    # meanwhile: an edit of a seen one, a delete of a seen one, an edit of an unseen one
    acme.patch(f"/v1/endpoints/{ids[0]}", json={"description": "edited"})
    acme.delete(f"/v1/endpoints/{ids[1]}")
    acme.patch(f"/v1/endpoints/{ids[5]}", json={"description": "edited"})
    while page["next_cursor"]:
        page = acme.get("/v1/endpoints", params={"limit": 3, "cursor": page["next_cursor"]}).json()
        seen += [e["id"] for e in page["data"]]
    assert seen == sorted(ids)
    # a cursor is bound to its tenant and filters
    cursor = acme.get("/v1/endpoints", params={"limit": 1}).json()["next_cursor"]
    assert acme.get("/v1/endpoints", params={"cursor": cursor, "active": True}).status_code == 400
    globex = api.client(api.tenant_token("globex"))
    assert globex.get("/v1/endpoints", params={"cursor": cursor}).status_code == 400
    assert acme.get("/v1/endpoints", params={"limit": 101}).status_code == 422


def test_bad_input(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    big = acme.post("/v1/endpoints", content=b'{"url": "' + b"a" * 70_000 + b'"}',
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert big.status_code == 413
    bad = acme.post(
        "/v1/endpoints", content=b'{"url": ', headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400
    unknown = acme.post("/v1/endpoints", json={"url": URL, "colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["error"]["errors"][0]["field"] == "colour"
    nested = acme.post("/v1/endpoints", json={"url": URL, "filters": [{"equals": 1}]})
    assert nested.status_code == 422
    assert nested.json()["error"]["errors"][0]["field"] == "filters.0.field"
    limit = acme.post(
        "/v1/endpoints", json={"url": URL, "event_types": [f"t{i}" for i in range(101)]}
    )
    assert limit.status_code == 422 and "limit is 100" in limit.text
    tenant_in_body = acme.post("/v1/endpoints", json={"url": URL, "tenant": "globex"})
    assert tenant_in_body.status_code == 422
    plain = acme.post("/v1/endpoints", json={"url": "http://hooks.acme.example/in"})
    assert plain.status_code == 422 and plain.json()["error"]["errors"][0]["field"] == "url"
    fixed = acme.patch(f"/v1/endpoints/{api.create(acme)['id']}", json={"secrets": []})
    assert fixed.status_code == 422 and fixed.json()["error"]["errors"][0]["field"] == "secrets"


def test_the_tenant_endpoint_limit_is_named(api: Api) -> None:
    api.store.max_per_tenant = 2
    acme = api.client(api.tenant_token("acme"))
    api.create(acme)
    api.create(acme)
    third = acme.post("/v1/endpoints", json={"url": URL})
    assert third.status_code == 422 and "endpoints_per_tenant" in third.text


def test_write_rate_limit_per_token(api: Api) -> None:
    from kafkahooks.api.ratelimit import RateLimiter

    api.ctx.limiter = RateLimiter(rate=0.01, burst=2)
    acme = api.client(api.tenant_token("acme"))
    assert [acme.post("/v1/endpoints", json={"url": URL}).status_code for _ in range(3)] == [
        201,
        201,
        429,
    ]
    refused = acme.post("/v1/endpoints", json={"url": URL})
    assert int(refused.headers["Retry-After"]) >= 1
    assert acme.get("/v1/endpoints").status_code == 200  # reads are not limited


def test_urls_resolving_to_non_public_addresses_are_refused(api: Api) -> None:
    api.resolver.names["internal.acme.example"] = ["10.1.2.3"]
    api.resolver.names["mixed.acme.example"] = ["93.184.215.14", "127.0.0.1"]
    acme = api.client(api.tenant_token("acme"))
    for url in ("https://internal.acme.example/in", "https://mixed.acme.example/in",
                "https://127.0.0.1/in", "https://2130706433/in", "https://[::1]/in",
                "https://169.254.169.254/latest"):  # fmt: skip
        answer = acme.post("/v1/endpoints", json={"url": url})
        assert answer.status_code == 422, url
        assert "10.1.2.3" not in answer.text and "internal" not in answer.text
    # a name that does not resolve yet is accepted (the guard checks again at delivery)
    assert (
        acme.post("/v1/endpoints", json={"url": "https://not-yet.acme.example/in"}).status_code
        == 201
    )
    eid = api.create(acme)["id"]
    moved = acme.patch(f"/v1/endpoints/{eid}", json={"url": "https://internal.acme.example/x"})
    assert moved.status_code == 422


def test_audit_intent_before_the_write_and_outcome_after(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    created = api.create(acme, description="top secret text",
                         secret_headers={"Authorization": "Bearer zz-s3cret"})  # fmt: skip
    intent, outcome = api.audit.records[-2:]
    assert intent["kind"] == "intent" and intent["action"] == "create"
    assert intent["endpoint_id"] == created["id"] and intent["tenant"] == "acme"
    assert intent["fields"] == ["description", "secret_headers", "url"]
    assert outcome["result"] == "applied" and outcome["offset"] == created["offset"]
    assert intent["request_id"] == outcome["request_id"] and intent["token_id"]
    text = json.dumps(api.audit.records)
    assert "top secret text" not in text and "zz-s3cret" not in text and URL not in text
    api.audit.fail = True
    before = len(api.store.records)
    refused = acme.patch(f"/v1/endpoints/{created['id']}", json={"active": False})
    assert refused.status_code == 503 and len(api.store.records) == before


def test_min_offset_waits_then_answers_503(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    ahead = acme.get("/v1/endpoints", headers={"Kafkahooks-Min-Offset": "99999"})
    assert ahead.status_code == 503 and ahead.headers["Retry-After"] == "1"
    assert acme.get("/v1/endpoints", headers={"Kafkahooks-Min-Offset": "0"}).status_code == 200


def test_event_types_catalogue(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    types = acme.get("/v1/event-types").json()
    assert [(t["type"], t["route"]) for t in types] == [("status-changed", "call-status")]
    assert types[0]["sample"]["event"] == "status-changed"
    assert api.client(None).get("/v1/event-types").status_code == 401


def test_an_endpoint_written_by_the_cli_is_served(api: Api) -> None:
    """(the store is shared with `kafkahooks endpoints`: its records are the same)"""
    from kafkahooks.endpoints import EndpointSpec

    ep = create_endpoint(EndpointSpec.parse({"url": URL}), "acme", now=0.0)
    api.store.put(ep.id, encode_endpoint(ep, api.store.tables.keyring, -1, 0.0))
    acme = api.client(api.tenant_token("acme"))
    assert acme.get(f"/v1/endpoints/{ep.id}").status_code == 200


def test_error_messages_never_repeat_a_secret(api: Api) -> None:
    acme = api.client(api.tenant_token("acme"))
    for spec in (
        {"url": URL, "secret_headers": {"X-Key": "s3cret\nvalue"}},
        {"url": URL, "secret_headers": {"Host": "s3cret-value"}},
        {"url": "https://s3cret-host.acme.example:99999/in"},
        {
            "url": URL,
            "headers": {"Authorization": "Bearer s3cret-value"},
            "secret_headers": {"authorization": "x"},
        },
    ):
        answer = acme.post("/v1/endpoints", json=spec)
        assert answer.status_code == 422, spec
        assert "s3cret" not in answer.text


def test_new_admin_token_prints_the_token_once_and_its_hash_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kafkahooks.api.tokens import hash_secret
    from kafkahooks.cli.main import main

    assert main(["api", "--new-admin-token", "platform"]) == 0
    out = capsys.readouterr().out
    token = out.strip().splitlines()[-1].rsplit(" ", 1)[1]
    assert token.startswith("kht_platform_")
    assert f"sha256: {hash_secret(token.split('_')[2])}" in out
    assert out.count(token) == 1


def test_healthz_says_whether_the_replica_can_serve(api: Api) -> None:
    assert api.http.get("/healthz").status_code == 200
    api.store.problem = lambda: "the store follower is not running"  # type: ignore[method-assign]
    answer = api.http.get("/healthz")
    assert answer.status_code == 503 and "follower" in answer.json()["status"]


def test_the_view_shows_a_disable_by_kafkahooks_and_delete_removes_its_status(api: Api) -> None:
    from kafkahooks.endpoints import Disable, EndpointStatus, encode_status, status_key

    acme = api.client(api.tenant_token("acme"))
    created = api.create(acme)
    eid, offset = created["id"], created["offset"]
    assert created["enabled"] is True and created["disabled_by_kafkahooks"] is None
    status = EndpointStatus(offset, 100.0, Disable("gone", 200.0, "HTTP 410"), "bridge-1")
    api.store.put(status_key(eid), encode_status(eid, status, -1, 200.0))
    shown = acme.get(f"/v1/endpoints/{eid}").json()
    assert shown["active"] is True and shown["enabled"] is False
    assert shown["disabled_by_kafkahooks"] == {"reason": "gone", "at": 200.0, "detail": "HTTP 410"}
    assert shown["failing_since"] == 100.0
    assert acme.get("/v1/endpoints").json()["data"][0]["enabled"] is False

    assert acme.delete(f"/v1/endpoints/{eid}").status_code == 204
    assert (status_key(eid), None) in api.store.records  # the status goes with it
    assert api.store.tables.endpoints.status_of(eid) is None
