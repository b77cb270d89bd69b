"""Signature headers against vectors computed here, independently, with ``hmac``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from kafkahooks.config import SigningConfig
from kafkahooks.delivery.signing import hmac_pads, hmac_sha256, signer_for

BODY = '{"callId":"call-7","status":"ended","caller":"Zoë"}'.encode()
TS = 1_700_000_000
EVENT_ID = "evt_0123456789abcdef0123456789abcdef"
SECRET = "hunter2"
OLD_SECRET = "correct horse"
WHSEC_KEY = b"0123456789abcdef0123456789abcdef"
WHSEC = "whsec_" + base64.b64encode(WHSEC_KEY).decode()


def _mac(key: bytes, content: bytes) -> bytes:
    return hmac.new(key, content, hashlib.sha256).digest()


def _hex(key: bytes, content: bytes) -> str:
    return _mac(key, content).hex()


def _b64(key: bytes, content: bytes) -> str:
    return base64.b64encode(_mac(key, content)).decode()


def _headers(**config: Any) -> dict[str, str]:
    return signer_for(SigningConfig.model_validate(config)).headers(BODY, TS, EVENT_ID)


def test_literal_vectors() -> None:
    # Literal digests (checked with Node's crypto too), so a shared mistake in the
    # code and in the helpers above cannot cancel out.
    hex_headers = signer_for(SigningConfig.model_validate({"secret": "hunter2"})).headers(
        b'{"a":1}', TS, EVENT_ID
    )
    assert hex_headers == {
        "x-signature": "6e73a1a57a6e6edb9dff174d2a53bc61a27cfc639a2964743ed35fd59c8bc82d"
    }
    # The example from the Standard Webhooks specification.
    std = signer_for(
        SigningConfig.model_validate(
            {"scheme": "standard-webhooks", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
        )
    ).headers(b'{"test": 2432232314}', 1614265330, "msg_p5jXN8AQM9LWM0D4loKWxJek")
    assert std["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_hmac_sha256_hex_is_the_default() -> None:
    assert _headers(secret=SECRET) == {"x-signature": _hex(SECRET.encode(), BODY)}


def test_hmac_sha256_base64_with_prefix_and_custom_header() -> None:
    headers = _headers(
        secret=SECRET, header="X-Hub-Signature-256", encoding="base64", prefix="sha256="
    )
    assert headers == {"X-Hub-Signature-256": "sha256=" + _b64(SECRET.encode(), BODY)}


def test_timestamped_signs_timestamp_dot_body() -> None:
    headers = _headers(scheme="timestamped", secret=SECRET)
    assert headers == {
        "x-signature": _hex(SECRET.encode(), f"{TS}.".encode() + BODY),
        "x-signature-timestamp": str(TS),
    }


def test_standard_webhooks_uses_the_decoded_whsec_key() -> None:
    headers = _headers(scheme="standard-webhooks", secret=WHSEC)
    signed = f"{EVENT_ID}.{TS}.".encode() + BODY
    assert headers == {
        "webhook-id": EVENT_ID,
        "webhook-timestamp": str(TS),
        "webhook-signature": "v1," + _b64(WHSEC_KEY, signed),
    }


def test_t_v1_header() -> None:
    headers = _headers(scheme="t-v1", secret=SECRET, header="Stripe-Signature")
    sig = _hex(SECRET.encode(), f"{TS}.".encode() + BODY)
    assert headers == {"Stripe-Signature": f"t={TS},v1={sig}"}


def test_rotation_hmac_sha256_puts_older_secrets_in_the_rotation_header() -> None:
    headers = _headers(secrets=[SECRET, OLD_SECRET], prefix="sha256=")
    assert headers == {
        "x-signature": "sha256=" + _hex(SECRET.encode(), BODY),
        "x-signature-rotated": "sha256=" + _hex(OLD_SECRET.encode(), BODY),
    }
    named = _headers(secrets=[SECRET, OLD_SECRET], rotation_header="x-sig-old")
    assert named["x-sig-old"] == _hex(OLD_SECRET.encode(), BODY)


def test_rotation_standard_webhooks_lists_every_signature() -> None:
    old_key = b"fedcba9876543210fedcba9876543210"
    old = "whsec_" + base64.b64encode(old_key).decode()
    headers = _headers(scheme="standard-webhooks", secrets=[WHSEC, old])
    signed = f"{EVENT_ID}.{TS}.".encode() + BODY
    assert headers["webhook-signature"] == (
        f"v1,{_b64(WHSEC_KEY, signed)} v1,{_b64(old_key, signed)}"
    )


def test_rotation_t_v1_lists_every_signature() -> None:
    headers = _headers(scheme="t-v1", secrets=[SECRET, OLD_SECRET])
    content = f"{TS}.".encode() + BODY
    assert headers == {
        "webhook-signature": (
            f"t={TS},v1={_hex(SECRET.encode(), content)},v1={_hex(OLD_SECRET.encode(), content)}"
        )
    }


def test_signature_depends_on_the_exact_bytes() -> None:
    signer = signer_for(SigningConfig.model_validate({"secret": SECRET}))
    spaced = signer.headers(b'{"a": 1}', TS, EVENT_ID)["x-signature"]
    compact = signer.headers(b'{"a":1}', TS, EVENT_ID)["x-signature"]
    assert spaced != compact


@pytest.mark.parametrize(
    "config", [{"secret": ""}, {"secrets": []}, {"secret": "a", "secrets": ["b"]}]
)
def test_bad_secrets_are_rejected(config: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SigningConfig.model_validate(config)


def test_secret_is_not_in_the_config_repr() -> None:
    config = SigningConfig.model_validate({"secret": SECRET})
    assert SECRET not in repr(config) and SECRET not in str(config)


def test_signer_repr_does_not_show_the_key() -> None:
    signer = signer_for(SigningConfig.model_validate({"secret": SECRET}))
    assert SECRET not in repr(signer)


@pytest.mark.parametrize(
    "key",
    [b"", b"k", WHSEC_KEY, b"x" * 64, b"y" * 65, bytes(range(256)) * 2],
    ids=["empty", "short", "32 bytes", "one block", "over a block", "512 bytes"],
)
def test_hmac_from_padded_blocks_is_the_standard_librarys(key: bytes) -> None:
    """Keys of every length, a body in parts: what ``hmac`` computes."""
    head, body = f"{EVENT_ID}.{TS}.".encode(), BODY * 40
    assert hmac_sha256(hmac_pads(key), head, body) == _mac(key, head + body)
    assert hmac_sha256(hmac_pads(key)) == _mac(key, b"")
