"""The outbound request: body bytes serialised once, then signed as they are."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["OutboundRequest", "encode_json"]

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_json(payload: Any) -> bytes:
    """Compact UTF-8 JSON, non-ASCII unescaped: what ``JSON.stringify`` produces."""
    return _encoder.encode(payload).encode("utf-8")


@dataclass(slots=True)
class OutboundRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    timeout: float
