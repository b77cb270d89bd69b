"""The outbound request: body bytes serialised once, then signed as they are."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from ssl import SSLContext
from typing import TYPE_CHECKING, Any

from kafkahooks.delivery.guard import TargetPolicy

if TYPE_CHECKING:
    from kafkahooks.delivery.auth import Auth

__all__ = ["OutboundRequest", "encode_json"]

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_string = json.JSONEncoder(ensure_ascii=False).encode
_SURROGATE = re.compile("[\ud800-\udfff]")
_INTEGRAL_FLOAT = re.compile(r"\.0(?:[,\]}]|\Z)")  # "1.0", "-0.0"
_EXPONENT = re.compile(r"e(?:-0|\+)")  # "1e-05", "1e+16"


def _one_shot_encoder() -> Callable[[Any], str]:
    # JSONEncoder.encode builds the C encoder anew on every call; build it once.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _encoder.encode
    chunks = make(
        None, _encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    return lambda payload: "".join(chunks(payload, 0))


_encode = _one_shot_encoder()


def encode_json(payload: Any) -> bytes:
    """Compact UTF-8 JSON, non-ASCII unescaped: what ``JSON.stringify`` produces."""
    text = _encode(payload)
    if _python_floats(text):
        text = _js_encode(payload)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _escape_lone_surrogates(text).encode("utf-8")


def _python_floats(text: str) -> bool:
    # Every float Python spells unlike JavaScript ("1.0", "1e-05", "1e+16") matches one
    # of these; strings rarely do, and a false alarm only costs time.  Two literal-led
    # patterns scan far faster than one that starts with a digit class.
    if _INTEGRAL_FLOAT.search(text):
        return True
    match = _EXPONENT.search(text)
    while match is not None:
        at = match.start()
        if at and "0" <= text[at - 1] <= "9":
            return True
        match = _EXPONENT.search(text, match.end())
    return False


def _js_float(value: float) -> str:
    """ECMAScript ``Number::toString``: repr's shortest digits, JavaScript's layout."""
    if not math.isfinite(value):
        raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
    if value == 0:
        return "0"
    text = repr(value)
    if value.is_integer() and abs(value) < 1e21:
        return str(int(Decimal(text)))
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return text
    power = int(exponent)
    if -7 < power < 21:
        return format(Decimal(text), "f")
    return f"{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"


def _js_encode(node: Any) -> str:
    """The slow path for payloads holding floats: numbers laid out as JavaScript does."""
    if isinstance(node, str):
        return _string(node)
    if node is None or node is True or node is False:
        return _encoder.encode(node)
    if isinstance(node, int):
        return int.__repr__(node)
    if isinstance(node, float):
        return _js_float(node)
    if isinstance(node, dict):
        items = (
            f"{_string(k if isinstance(k, str) else _js_encode(k))}:{_js_encode(v)}"
            for k, v in node.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(node, list | tuple):
        return "[" + ",".join(_js_encode(v) for v in node) + "]"
    return _encoder.encode(node)  # raises the encoder's own TypeError


def _escape_lone_surrogates(text: str) -> str:
    # JSON.stringify writes a lone surrogate as a \u escape; UTF-8 cannot carry it.
    # Pairs (should any be split) are joined into their character first.
    joined = text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", joined)


@dataclass(slots=True)
class OutboundRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    timeout: float
    # Transport safety and TLS the sender must apply; auth the deliverer adds per attempt.
    policy: TargetPolicy = field(default_factory=TargetPolicy)
    ssl: SSLContext | None = None
    auth: Auth | None = None
