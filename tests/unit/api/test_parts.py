"""The API's smaller parts: idempotency records, the rate limiter, the URL check, config."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from kafkahooks.api.idempotency import IdempotencyTable, body_hash, idempotency_key
from kafkahooks.api.ratelimit import RateLimiter
from kafkahooks.api.targets import url_refusal
from kafkahooks.config import ApiConfig
from kafkahooks.endpoints import Keyring, generate_key_spec
from tests.support.api import PUBLIC, NameResolver


def test_idempotency_claims_follow_the_revision_rule_and_responses_are_sealed() -> None:
    table = IdempotencyTable(Keyring.parse(generate_key_spec("k1")))
    key = idempotency_key("acme", "k-1")
    assert key != idempotency_key("globex", "k-1")
    first = table.claim_record(key, "acme", body_hash({"a": 1, "b": 2}), "ep_1", 0.0, 60.0)
    second = table.claim_record(key, "acme", body_hash({"b": 2, "a": 1}), "ep_2", 0.0, 60.0)
    assert table.apply(key, first, 5) and not table.apply(key, second, 6)  # both named -1
    claim = table.get(key, 1.0)
    assert claim is not None and claim.endpoint_id == "ep_1"
    assert claim.body == body_hash({"b": 2, "a": 1})  # key order does not matter
    done = table.done_record(claim, {"signing_secret": "whsec_c2VjcmV0", "offset": 9})
    assert b"whsec_c2VjcmV0" not in done
    assert table.apply(key, done, 7)
    held = table.get(key, 1.0)
    assert held is not None and table.response(held) == {"signing_secret": "whsec_c2VjcmV0",
                                                          "offset": 9}  # fmt: skip
    assert table.get(key, 61.0) is None  # expired


def test_the_rate_limiter_allows_bursts_then_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("t") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("t") == pytest.approx(0.5)
    assert limiter.take("other") == 0.0  # per token
    now[0] = 0.5
    assert limiter.take("t") == 0.0
    assert RateLimiter.retry_after(0.2) == "1"


@pytest.mark.parametrize(
    ("url", "names", "refused"),
    [
        ("https://hooks.example/in", {"hooks.example": [PUBLIC]}, None),
        ("https://unknown.example/in", {}, None),  # not resolving yet: accepted
        ("https://internal.example/in", {"internal.example": ["192.168.1.9"]}, "not a public"),
        ("https://meta.example/in", {"meta.example": ["169.254.169.254"]}, "not a public"),
        ("https://v6.example/in", {"v6.example": ["::ffff:10.0.0.1"]}, "not a public"),
        ("https://mixed.example/in", {"mixed.example": [PUBLIC, "127.0.0.1"]}, "not a public"),
        ("https://0x7f.1/in", {}, "not a public"),
        ("http://hooks.example/in", {"hooks.example": [PUBLIC]}, "plain http"),
    ],
)
def test_the_url_check_at_write_time(
    url: str, names: dict[str, list[str]], refused: str | None
) -> None:
    answer = asyncio.run(url_refusal(url, False, NameResolver(names)))
    if refused is None:
        assert answer is None
    else:
        assert answer is not None and refused in answer
        for address in ("192.168.1.9", "169.254", "10.0.0.1", "127.0.0.1"):
            assert address not in answer


def test_allow_local_skips_the_lookup() -> None:
    resolver = NameResolver({"internal.example": ["10.0.0.1"]})
    assert asyncio.run(url_refusal("http://internal.example/in", True, resolver)) is None
    assert resolver.lookups == []


def test_the_api_section_is_checked() -> None:
    config = ApiConfig.model_validate({"listen": "0.0.0.0:9000"})
    assert (config.host, config.port) == ("0.0.0.0", 9000)
    twice = [{"id": "abcd", "sha256": "0" * 64}] * 2
    for bad in ({"listen": "nope"}, {"admin_tokens": [{"id": "A!", "sha256": "0" * 64}]},
                {"admin_tokens": [{"id": "abcd", "sha256": "xyz"}]},
                {"admin_tokens": twice}, {"colour": 1}):  # fmt: skip
        with pytest.raises(ValidationError):
            ApiConfig.model_validate(bad)
