"""Encryption at rest for store records: AES-256-GCM under a keyring of named keys.

A key spec is ``kid1:BASE64KEY[,kid2:BASE64KEY...]`` (each key 32 bytes).  The first
key encrypts; every key decrypts, so a new key is rolled out by adding it second,
then moving it first and re-encrypting (``kafkahooks endpoints reencrypt``), then
removing the old one once no record uses it.

A sealed value is ``{"kid", "nonce", "ct"}`` (nonce: 96 random bits; ct: ciphertext
and tag; both base64).  The associated data binds the record id and the field name,
so a ciphertext copied to another record or another field fails to open.
Invariant: no key material ever reaches a repr, a message or an exception.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from kafkahooks.endpoints.errors import MissingKeyError, StoreRecordError

__all__ = ["Keyring", "Sealed", "generate_key_spec"]


@with_config(ConfigDict(extra="ignore"))
class Sealed(TypedDict):
    """One encrypted value as stored: key id, nonce and ciphertext+tag (base64)."""

    kid: str
    nonce: str
    ct: str


_KID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_KEY_BYTES = 32
_NONCE_BYTES = 12
_AD_PREFIX = b"kafkahooks/1\x00"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _associated(record_id: str, field: str) -> bytes:
    return _AD_PREFIX + record_id.encode("utf-8") + b"\x00" + field.encode("utf-8")


@dataclass(frozen=True, slots=True, repr=False)
class _Key:
    kid: str
    aead: AESGCM


class Keyring:
    """Named AES-256-GCM keys; ``primary`` (the first) encrypts, all decrypt."""

    __slots__ = ("_keys", "primary")

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        for kid, key in keys.items():
            if not _KID.fullmatch(kid):
                raise ValueError(f"key id {kid!r}: use 1-64 letters, digits, '.', '_' or '-'")
            if len(key) != _KEY_BYTES:
                raise ValueError(f"key {kid!r} is {len(key)} bytes; AES-256 needs {_KEY_BYTES}")
        self._keys = {kid: _Key(kid, AESGCM(key)) for kid, key in keys.items()}
        self.primary: str = next(iter(keys))

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """Read ``kid1:BASE64KEY[,kid2:BASE64KEY...]``; a malformed entry is a
        ``ValueError`` naming its position (1-based), never the key."""
        keys: dict[str, bytes] = {}
        entries = spec.strip().split(",")
        if not spec.strip():
            raise ValueError("the encryption key spec is empty; give kid:BASE64KEY[,...]")
        for at, entry in enumerate(entries, 1):
            kid, colon, encoded = entry.strip().partition(":")
            where = f"encryption key {at} of {len(entries)}"
            if not colon or not kid:
                raise ValueError(f"{where}: expected kid:BASE64KEY")
            if not _KID.fullmatch(kid):
                raise ValueError(f"{where}: the key id must be 1-64 letters, digits, '.', '_', '-'")
            if kid in keys:
                raise ValueError(f"{where}: key id {kid!r} is given twice")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{where} ({kid!r}): the key is not valid base64") from None
            if len(key) != _KEY_BYTES:
                raise ValueError(
                    f"{where} ({kid!r}): the key is {len(key)} bytes; AES-256 needs {_KEY_BYTES}"
                )
            keys[kid] = key
        return cls(keys)

    @property
    def kids(self) -> tuple[str, ...]:
        """The key ids, the encrypting one first."""
        return tuple(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __repr__(self) -> str:
        return f"Keyring(kids={list(self._keys)!r})"

    __str__ = __repr__

    def seal(self, record_id: str, field: str, plaintext: str) -> Sealed:
        """Encrypt ``plaintext`` under the primary key, bound to ``record_id`` and ``field``."""
        nonce = os.urandom(_NONCE_BYTES)
        key = self._keys[self.primary]
        ct = key.aead.encrypt(nonce, plaintext.encode("utf-8"), _associated(record_id, field))
        return Sealed(kid=key.kid, nonce=_b64(nonce), ct=_b64(ct))

    def open(self, record_id: str, field: str, sealed: Sealed) -> str:
        """The plaintext of ``sealed``; ``MissingKeyError`` for a key id not held here,
        ``StoreRecordError("decrypt")`` for anything that does not authenticate."""
        key = self._keys.get(sealed["kid"])
        if key is None:
            raise MissingKeyError(sealed["kid"])
        try:
            nonce = binascii.a2b_base64(sealed["nonce"], strict_mode=True)
            ct = binascii.a2b_base64(sealed["ct"], strict_mode=True)
            if len(nonce) != _NONCE_BYTES:
                raise ValueError("nonce length")
            return key.aead.decrypt(nonce, ct, _associated(record_id, field)).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            raise StoreRecordError("decrypt", f"{record_id} {field}") from None


def generate_key_spec(kid: str) -> str:
    """A new ``kid:BASE64KEY`` entry (32 random bytes) to put first in the key spec."""
    if not _KID.fullmatch(kid):
        raise ValueError(f"key id {kid!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return f"{kid}:{_b64(os.urandom(_KEY_BYTES))}"
