"""Create, update, rotate, enable/disable: the store's limits, each named when exceeded."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from kafkahooks.endpoints import (
    Endpoint,
    EndpointLimitError,
    EndpointSpec,
    create_endpoint,
    new_signing_secret,
    rotate_secret,
    set_active,
    update_endpoint,
)
from tests.unit.endpoints.conftest import HEADER_SECRET, SECRET, URL


def test_create_gives_an_id_a_tenant_times_and_a_new_standard_webhooks_secret(
    make_spec: Callable[..., EndpointSpec], now: float
) -> None:
    ep = create_endpoint(make_spec(), "tenant-1", now=now)
    assert ep.id.startswith("ep_") and ep.tenant == "tenant-1"
    assert ep.created == ep.updated == now and ep.offset == -1
    secret = ep.secrets[0].value.get_secret_value()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    assert ep.event_types == ("call.completed", "call.failed")
    assert ep.headers == {"X-Customer": "acme"}


def test_create_keeps_a_given_secret(make_spec: Callable[..., EndpointSpec], now: float) -> None:
    ep = create_endpoint(make_spec(), "t", secret="a-hex-secret-from-before", now=now)
    assert ep.secrets[0].value.get_secret_value() == "a-hex-secret-from-before"
    with pytest.raises(ValueError, match="whsec_"):
        create_endpoint(make_spec(), "t", secret="whsec_!!!", now=now)


def test_new_secrets_differ() -> None:
    assert new_signing_secret() != new_signing_secret()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"description": "é" * 513}, "limit is 1,024 bytes"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata keys is 51; the limit is 50"),
        ({"metadata": {"k": "x" * 4100}}, "the limit is 4,096 bytes"),
        ({"headers": {f"X-H{i}": "v" for i in range(20)}}, r"headers \+ secret_headers\) is 21"),
        (
            {"filters": [{"field": "value.team", "equals": i} for i in range(11)]},
            "filter predicates is 11; the limit is 10",
        ),
        ({"event_types": [f"e{i}" for i in range(101)]}, "event types is 101; the limit is 100"),
    ],
)
def test_each_limit_is_refused_with_the_limit_named(
    make_spec: Callable[..., EndpointSpec], fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        make_spec(**fields)


@pytest.mark.parametrize(
    "headers",
    [
        {"webhook-signature": "v1,forged"},
        {"X-Hub-Signature-256": "sha256=forged"},
        {"Content-Length": "1"},
        {"Host": "other.example"},
        {"Content-Type": "text/plain"},
        {"X-A": "line\r\nInjected: yes"},
        {"Bad Name": "v"},
        {"X-A": "1", "x-a": "2"},
    ],
)
def test_headers_follow_the_static_header_rules(
    make_spec: Callable[..., EndpointSpec], headers: dict[str, str]
) -> None:
    with pytest.raises(ValidationError) as refused:
        make_spec(headers=headers)
    assert "Injected: yes" not in str(refused.value)


def test_a_tenant_may_set_its_receivers_authorization(
    make_spec: Callable[..., EndpointSpec],
) -> None:
    assert make_spec(secret_headers={"Authorization": "Bearer x"}).secret_headers


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hooks.example.com/x", "https"),
        ("https://127.0.0.1/x", "non-public"),
        ("https://[::1]/x", "non-public"),
        ("https://10.1.2.3/x", "non-public"),
        ("https://user:pw@hooks.example.com/x", "user:password"),
        ("https://hooks.example.com/x#frag", "fragment"),
        ("ftp://hooks.example.com/x", "http"),
    ],
)
def test_urls_are_checked_at_write(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as refused:
        EndpointSpec.parse({"url": url})
    assert "/x" not in str(refused.value).replace("http://", "").replace("https://", "")


def test_the_allow_local_switch_admits_local_targets() -> None:
    spec = EndpointSpec.parse({"url": "http://127.0.0.1:8080/hook"}, allow_local=True)
    assert spec.url == "http://127.0.0.1:8080/hook"


def test_a_filter_on_an_unknown_field_root_is_refused(
    make_spec: Callable[..., EndpointSpec],
) -> None:
    with pytest.raises(ValidationError, match="placeholder root"):
        make_spec(filters=[{"field": "nope.team", "equals": "blue"}])
    assert make_spec(filters=[{"field": "value.team", "in": ["a", "b"]}]).filters[0].in_


def test_update_is_a_merge_patch(endpoint: Endpoint, now: float) -> None:
    updated = update_endpoint(
        endpoint,
        {
            "url": "https://new.example.com/hook",
            "description": None,  # reset
            "headers": {"x-customer": None, "X-Env": "prod"},  # names compare ignoring case
            "secret_headers": {"Authorization": "Bearer NEW"},
            "metadata": {"team": None, "tier": "gold"},
            "event_types": None,
        },
        now + 10,
    )
    assert (updated.id, updated.tenant, updated.secrets) == (
        endpoint.id,
        endpoint.tenant,
        endpoint.secrets,
    )
    assert updated.url == "https://new.example.com/hook"
    assert updated.description == ""
    assert updated.headers == {"X-Env": "prod"}
    assert updated.secret_headers["Authorization"].get_secret_value() == "Bearer NEW"
    assert updated.metadata == {"tier": "gold"}
    assert updated.event_types == ("*",)
    assert (updated.created, updated.updated) == (endpoint.created, now + 10)
    removed = update_endpoint(updated, {"secret_headers": {"authorization": None}}, now)
    assert removed.secret_headers == {}


@pytest.mark.parametrize("field", ["tenant", "id", "secrets"])
def test_update_never_changes_the_tenant_the_id_or_the_secrets(
    endpoint: Endpoint, now: float, field: str
) -> None:
    with pytest.raises(ValueError, match="cannot be changed"):
        update_endpoint(endpoint, {field: "other"}, now)


def test_update_checks_every_limit_again(endpoint: Endpoint, now: float) -> None:
    with pytest.raises(ValidationError, match="description"):
        update_endpoint(endpoint, {"description": "x" * 2000}, now)
    with pytest.raises(ValidationError, match="https"):
        update_endpoint(endpoint, {"url": "http://hooks.example.com/"}, now)


def test_rotation_keeps_the_previous_secret_until_its_expiry(
    endpoint: Endpoint, now: float
) -> None:
    rotated, new = rotate_secret(endpoint, now)
    assert new.startswith("whsec_") and new != SECRET
    assert [s.get_secret_value() for s in rotated.signing_secrets(now + 1)] == [new, SECRET]
    assert [s.get_secret_value() for s in rotated.signing_secrets(now + 86401)] == [new]


def test_rotation_expiring_now_drops_every_previous_secret(endpoint: Endpoint, now: float) -> None:
    once, _ = rotate_secret(endpoint, now)
    twice, new = rotate_secret(once, now, new_secret="given-secret", previous_valid_for=0)
    assert new == "given-secret"
    assert [s.get_secret_value() for s in twice.signing_secrets(now)] == ["given-secret"]
    assert len(twice.secrets) == 1


def test_rotation_refuses_a_sixth_valid_secret(endpoint: Endpoint, now: float) -> None:
    ep = endpoint
    for _ in range(4):
        ep, _ = rotate_secret(ep, now)
    with pytest.raises(EndpointLimitError, match="limit is 5"):
        rotate_secret(ep, now)


def test_set_active(endpoint: Endpoint, now: float) -> None:
    off = set_active(endpoint, False, now + 5)
    assert not off.active and off.updated == now + 5
    assert not off.wants("calls", "call.completed")
    assert set_active(off, True, now).active


def test_repr_and_str_never_show_secrets_paths_or_header_values(
    endpoint: Endpoint, make_spec: Callable[..., EndpointSpec]
) -> None:
    rotated, new = rotate_secret(endpoint, 0.0)
    spec = make_spec()
    shown = " ".join([repr(rotated), str(rotated), repr(rotated.secrets), repr(spec), str(spec)])
    for hidden in (SECRET, new, HEADER_SECRET, "SECRETPATH123", "QUERYSECRET456"):
        assert hidden not in shown
    assert "hooks.example.com" in repr(rotated)
    assert URL not in shown


def test_describe_shows_no_secret_path_query_or_header_value(
    endpoint: Endpoint, now: float
) -> None:
    from kafkahooks.endpoints import describe_endpoint

    rotated, new = rotate_secret(endpoint, now)
    shown = describe_endpoint(rotated, now)
    text = repr(shown)
    for hidden in (SECRET, new, HEADER_SECRET, "SECRETPATH123", "QUERYSECRET456", "acme"):
        assert hidden not in text
    assert shown["url"].startswith("https://hooks.example.com/")
    assert shown["secret_headers"] == ["Authorization"] and shown["headers"] == ["X-Customer"]
    assert shown["secrets"] == [{"expires": None}, {"expires": now + 86400.0}]
    assert shown["id"] == endpoint.id and shown["tenant"] == "tenant-1"
