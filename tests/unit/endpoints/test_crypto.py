"""The keyring: AES-256-GCM, ciphertexts bound to record id and field, rotation."""

from __future__ import annotations

import base64

import pytest

from kafkahooks.endpoints import Keyring, MissingKeyError, StoreRecordError, generate_key_spec


def test_seal_and_open_round_trip_under_the_first_key(keyring: Keyring) -> None:
    sealed = keyring.seal("ep_1", "target", "/hooks/abc?token=xyz")
    assert sealed["kid"] == "k2" == keyring.primary
    assert len(base64.b64decode(sealed["nonce"])) == 12
    assert "/hooks" not in str(sealed) and "xyz" not in str(sealed)
    assert keyring.open("ep_1", "target", sealed) == "/hooks/abc?token=xyz"


def test_every_seal_uses_a_fresh_nonce(keyring: Keyring) -> None:
    one, two = (keyring.seal("ep_1", "secret", "s") for _ in range(2))
    assert one["nonce"] != two["nonce"] and one["ct"] != two["ct"]


def test_a_ciphertext_moved_to_another_record_or_field_fails(keyring: Keyring) -> None:
    sealed = keyring.seal("ep_1", "secret", "whsec_abc")
    with pytest.raises(StoreRecordError) as other_record:
        keyring.open("ep_2", "secret", sealed)
    with pytest.raises(StoreRecordError) as other_field:
        keyring.open("ep_1", "target", sealed)
    assert other_record.value.reason == other_field.value.reason == "decrypt"


def test_a_tampered_ciphertext_fails(keyring: Keyring) -> None:
    sealed = keyring.seal("ep_1", "secret", "whsec_abc")
    ct = bytearray(base64.b64decode(sealed["ct"]))
    ct[0] ^= 1
    tampered = {**sealed, "ct": base64.b64encode(bytes(ct)).decode()}
    with pytest.raises(StoreRecordError, match="decrypt"):
        keyring.open("ep_1", "secret", tampered)  # type: ignore[arg-type]


def test_an_old_key_still_decrypts_and_a_missing_one_is_named(
    key_specs: tuple[str, str],
) -> None:
    new, old = key_specs
    before = Keyring.parse(old)  # only k1: what wrote the record
    sealed = before.seal("ep_1", "target", "/p")
    assert Keyring.parse(f"{new},{old}").open("ep_1", "target", sealed) == "/p"
    with pytest.raises(MissingKeyError) as missing:
        Keyring.parse(new).open("ep_1", "target", sealed)
    assert missing.value.kid == "k1" and "k1" in str(missing.value)


@pytest.mark.parametrize(
    ("spec", "position"),
    [
        ("", "empty"),
        ("k1", "1 of 1"),
        ("k1:AAAA", "1 of 1"),  # 3 bytes
        ("k1:" + base64.b64encode(b"x" * 32).decode() + ",k2:not base64!", "2 of 2"),
        (
            "k1:"
            + base64.b64encode(b"x" * 32).decode()
            + ",k1:"
            + base64.b64encode(b"y" * 32).decode(),
            "given twice",
        ),
        ("bad id:" + base64.b64encode(b"x" * 32).decode(), "1 of 1"),
    ],
)
def test_a_malformed_key_spec_names_the_position_never_the_key(spec: str, position: str) -> None:
    with pytest.raises(ValueError, match=position) as refused:
        Keyring.parse(spec)
    for part in spec.replace(",", ":").split(":")[1::2]:
        if len(part) > 8:
            assert part not in str(refused.value)


def test_repr_shows_key_ids_only(key_specs: tuple[str, str], keyring: Keyring) -> None:
    shown = repr(keyring) + str(keyring)
    assert "k1" in shown and "k2" in shown
    for spec in key_specs:
        assert spec.partition(":")[2] not in shown


def test_generated_key_specs_parse_and_differ() -> None:
    one, two = generate_key_spec("2026-12"), generate_key_spec("2026-12")
    assert one != two
    assert Keyring.parse(one).kids == ("2026-12",)
    with pytest.raises(ValueError, match="key id"):
        generate_key_spec("no spaces")
