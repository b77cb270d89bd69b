"""Why a store record or an endpoint write is refused.

Messages name the record's key, the reason or the limit — never a secret, a URL
path or a header value.
"""

from __future__ import annotations

__all__ = ["EndpointLimitError", "MissingKeyError", "StoreRecordError"]


class StoreRecordError(ValueError):
    """A store record that cannot be used; ``reason`` is the metric label
    (``json``, ``schema``, ``version``, ``key-mismatch``, ``decrypt``, ``tenant-change``)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class MissingKeyError(KeyError):
    """A record encrypted under a key id the configured keyring does not hold: a
    configuration error (the process names ``kid`` and does not become ready)."""

    def __init__(self, kid: str) -> None:
        super().__init__(kid)
        self.kid = kid

    def __str__(self) -> str:
        return f"encryption key {self.kid!r} is not among the configured keys"


class EndpointLimitError(ValueError):
    """A write over one of the store's limits; the message names the limit."""
