"""Tokens: shape, hashing, the store's records, and who they authenticate."""

from __future__ import annotations

from kafkahooks.api.tokens import (
    TenantToken,
    TokenTable,
    hash_secret,
    new_token,
    token_record,
)
from kafkahooks.config import AdminToken


def _table_with(token: TenantToken) -> TokenTable:
    table = TokenTable([])
    table.apply(f"token/{token.id}", token_record(token), 7)
    return table


def test_a_new_token_has_192_random_bits_and_keeps_only_a_hash() -> None:
    issued = new_token()
    prefix, tid, secret = issued.value.split("_")
    assert prefix == "kht" and tid == issued.id and len(secret) == 48
    assert issued.sha256 == hash_secret(secret)
    assert secret not in repr(issued) and len({new_token().value for _ in range(50)}) == 50


def test_admin_and_tenant_tokens_authenticate_and_nothing_else() -> None:
    admin, tenant = new_token("admin1"), new_token()
    table = TokenTable([AdminToken(id=admin.id, sha256=admin.sha256)])
    table.apply(f"token/{tenant.id}",
                token_record(TenantToken(tenant.id, "acme", tenant.sha256, 0.0)), 1)  # fmt: skip
    who = table.authenticate(admin.value, 10.0)
    assert who is not None and who.admin
    who = table.authenticate(tenant.value, 10.0)
    assert who is not None and who.tenant == "acme" and not who.admin
    other_last = "1" if tenant.value.endswith("0") else "0"  # (a "0" flipped to "0" was no change)
    for bad in ("", "kht_", tenant.value + "x", tenant.value[:-1] + other_last,
                "kht_admin1_" + "0" * 48, f"kht_{tenant.id}_short"):  # fmt: skip
        assert table.authenticate(bad, 10.0) is None


def test_revoked_and_expired_tokens_do_not_authenticate() -> None:
    issued = new_token()
    base = TenantToken(issued.id, "acme", issued.sha256, 0.0, expires=100.0)
    table = _table_with(base)
    assert table.authenticate(issued.value, 99.0) is not None
    assert table.authenticate(issued.value, 100.0) is None
    revoked = TenantToken(issued.id, "acme", issued.sha256, 0.0, revoked=50.0)
    table.apply(f"token/{issued.id}", token_record(revoked), 8)
    assert table.authenticate(issued.value, 60.0) is None


def test_records_are_checked_and_never_change_tenant() -> None:
    issued = new_token()
    table = _table_with(TenantToken(issued.id, "acme", issued.sha256, 0.0))
    moved = TenantToken(issued.id, "globex", issued.sha256, 0.0)
    assert not table.apply(f"token/{issued.id}", token_record(moved), 9)
    assert not table.apply("token/other", token_record(moved), 10)  # key is not its id
    assert not table.apply(f"token/{issued.id}", b"not json", 11)
    assert table.rejected == 3
    who = table.authenticate(issued.value, 1.0)
    assert who is not None and who.tenant == "acme"
    assert table.apply(f"token/{issued.id}", None, 12)  # a tombstone removes it
    assert table.authenticate(issued.value, 1.0) is None


def test_a_record_holds_no_secret() -> None:
    issued = new_token()
    record = token_record(TenantToken(issued.id, "acme", issued.sha256, 0.0))
    assert issued.value.split("_")[2].encode() not in record
