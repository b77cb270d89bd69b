"""The body the hand-made rows send: the bench template's fields, by hand.

Same fields as the kafkahooks route of the bench (``throughput.TEMPLATE``),
built with plain dict lookups and signed with HMAC-SHA256 over the body, so
the naive and hand-written loops do comparable work without a template engine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SECRET = b"bench-secret-not-used-anywhere-else"


def body(value: dict[str, Any], key: str, source: str) -> bytes:
    data = value.get("data", {})
    payload = {
        "event": value.get("event"),
        "type": value.get("type"),
        "companionId": value.get("companionId"),
        "callId": key,
        "seq": value.get("seq"),
        "data": {k: data[k] for k in _DATA_FIELDS if k in data},
        "meta": {"source": source},
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


_DATA_FIELDS = ("status", "startedAt", "endedAt", "endedReason", "phoneNumber", "messages")


def headers(payload: bytes, event_id: str) -> dict[str, str]:
    signature = hmac.new(SECRET, payload, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-signature": signature, "webhook-id": event_id}
