"""Signature headers as pure functions of (config, body bytes, time, event id).

Key bytes: for Standard Webhooks the base64-decoded part after ``whsec_``;
for every other scheme the UTF-8 bytes of the secret as written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

from kafkahooks.config import SigningConfig

__all__ = ["Signer", "signer_for"]


def _encode(digest: bytes, encoding: str) -> str:
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")


def _whsec_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


@dataclass(frozen=True, slots=True)
class Signer:
    scheme: str
    keys: tuple[bytes, ...] = field(repr=False)
    header: str
    timestamp_header: str | None
    rotation_header: str | None
    encoding: str
    prefix: str
    # HMAC state keyed once per secret; copying it skips the key set-up per event.
    _keyed: tuple[hmac.HMAC, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keyed = tuple(hmac.new(key, digestmod=hashlib.sha256) for key in self.keys)
        object.__setattr__(self, "_keyed", keyed)

    def _sigs(self, content: bytes, keys: tuple[bytes, ...] | None) -> list[str]:
        if keys is not None:  # one-shot keys (a customer endpoint's): no keyed state kept
            return [_encode(hmac.digest(k, content, "sha256"), self.encoding) for k in keys]
        sigs = []
        for keyed in self._keyed:
            mac = keyed.copy()
            mac.update(content)
            sigs.append(_encode(mac.digest(), self.encoding))
        return sigs

    def key_bytes(self, secret: str) -> bytes:
        """A secret as this scheme keys its HMAC (see the module doc)."""
        return _whsec_key(secret) if self.scheme == "standard-webhooks" else secret.encode()

    def headers(
        self, body: bytes, timestamp: int, event_id: str, keys: tuple[bytes, ...] | None = None
    ) -> dict[str, str]:
        """``keys``: sign with these instead of the signer's own (a route that gives the
        scheme only; each customer endpoint has its own secrets)."""
        ts = str(timestamp)
        if self.scheme == "standard-webhooks":
            sigs = self._sigs(f"{event_id}.{ts}.".encode() + body, keys)
            return {
                "webhook-id": event_id,
                "webhook-timestamp": ts,
                self.header: " ".join(f"v1,{s}" for s in sigs),
            }
        if self.scheme == "t-v1":
            sigs = self._sigs(f"{ts}.".encode() + body, keys)
            return {self.header: ",".join([f"t={ts}", *(f"v1={s}" for s in sigs)])}
        content = f"{ts}.".encode() + body if self.scheme == "timestamped" else body
        primary, *others = self._sigs(content, keys)
        out = {self.header: self.prefix + primary}
        if self.timestamp_header:
            out[self.timestamp_header] = ts
        if others and self.rotation_header:
            out[self.rotation_header] = ",".join(self.prefix + s for s in others)
        return out


_DEFAULT_HEADER = {
    "hmac-sha256": "x-signature",
    "timestamped": "x-signature",
    "standard-webhooks": "webhook-signature",
    "t-v1": "webhook-signature",
}


def signer_for(config: SigningConfig, secrets: list[str] | None = None) -> Signer:
    """The signer of ``config``; ``secrets`` (current first) replace its own secrets
    (a customer endpoint's, with a route that gives the scheme only)."""
    if secrets is None:
        secrets = [s.get_secret_value() for s in config.secrets]
    std = config.scheme == "standard-webhooks"
    keys = tuple(_whsec_key(s) if std else s.encode("utf-8") for s in secrets)
    header = config.header or _DEFAULT_HEADER[config.scheme]
    timestamp_header = config.timestamp_header
    if config.scheme == "timestamped" and not timestamp_header:
        timestamp_header = "x-signature-timestamp"
    return Signer(
        scheme=config.scheme,
        keys=keys,
        header=header,
        timestamp_header=timestamp_header,
        rotation_header=config.rotation_header or f"{header}-rotated",
        encoding=config.encoding or ("base64" if std else "hex"),
        prefix=config.prefix,
    )
