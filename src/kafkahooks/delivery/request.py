"""The outbound request: body bytes serialised once, then signed as they are.

Bodies are what JavaScript's ``JSON.stringify`` writes.  orjson encodes about 10x faster
than the standard library (``bench/json_codecs.py``) and writes the same bytes for
strings, ints, booleans, null, lists and dicts; floats it lays out as Python does and
NaN it writes as ``null``.  So a body with a float, or any type orjson would handle
differently, is encoded by the exact (slower) path below.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from ssl import SSLContext
from typing import Any
from uuid import UUID

import orjson

from kafkahooks.config import MASK, shown_url
from kafkahooks.delivery.guard import TargetPolicy

__all__ = ["OutboundRequest", "encode_json"]


def _default(value: Any) -> Any:
    # orjson writes these two so; the exact path must write the same
    if isinstance(value, UUID):  # Avro's uuid logical type
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# header values a repr may show: kafkahooks' own, never a credential
_SHOWN_HEADERS = frozenset(
    {
        "content-type",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "webhook-batch-size",
        "webhook-payload-version",
    }
)

_encoder = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
)
_string = json.JSONEncoder(ensure_ascii=False).encode
_SURROGATE = re.compile("[\ud800-\udfff]")
_INTEGRAL_FLOAT = re.compile(r"\.0(?:[,\]}]|\Z)")  # "1.0", "-0.0"
_EXPONENT = re.compile(r"e(?:-0|\+)")  # "1e-05", "1e+16"
# The end of a float token in orjson's compact output: a fraction ("1.0", "1.5e+300") or
# an exponent alone ("1e-7"; orjson always signs it), then a structural character or the
# end (a float on its own).  Both patterns start with a literal, which the regular
# expression engine finds fast.
_FRACTION_END = re.compile(rb"\.[0-9]+(?:e[-+][0-9]+)?(?:[,\]}]|\Z)")
_EXPONENT_END = re.compile(rb"e[-+][0-9]+(?:[,\]}]|\Z)")
# datetimes, dataclasses and subclasses of str/int/dict/list go to ``_refuse``, so that
# orjson encodes only the types whose bytes are the standard library's
_STRICT = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


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
    try:
        body = orjson.dumps(payload, default=_refuse, option=_STRICT)
    except TypeError:  # ints beyond 64 bits, lone surrogates, non-text keys, other types
        return _exact(payload)
    if not _float_token(body) and (b"null" not in body or not _has_float(payload)):
        return body
    return _exact(payload)


def _float_token(body: bytes) -> bool:
    """Whether orjson wrote a float.  A candidate ending is one when digits, and a
    structural character (or the start) before them, lead up to it; in a string
    ("10:00:00.500]") it is a false alarm, which only costs the exact path."""
    for pattern in (_FRACTION_END, _EXPONENT_END):
        match = pattern.search(body)
        while match is not None:
            start = end = match.start()
            while start and 48 <= body[start - 1] <= 57:  # 0-9
                start -= 1
            if start and body[start - 1] == 45:  # "-"
                start -= 1
            if start < end and (start == 0 or body[start - 1] in b":,["):
                return True
            match = pattern.search(body, match.end())
    return False


def _refuse(value: Any) -> Any:
    raise TypeError("for the exact path")


def _has_float(node: Any) -> bool:
    """Whether a float hides in ``node`` (orjson writes NaN and infinities as null)."""
    stack = [node]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is float:
            return True
        if kind is dict:
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
    return False


def _exact(payload: Any) -> bytes:
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


@dataclass(slots=True, repr=False)
class OutboundRequest:
    """One request to send.  Its ``repr`` shows no secret: header values other than
    kafkahooks' own are masked, the URL as :func:`~kafkahooks.config.urls.shown_url`
    shows it, and the body only by its length."""

    def __repr__(self) -> str:
        headers = {k: (v if k.lower() in _SHOWN_HEADERS else MASK) for k, v in self.headers.items()}
        return (
            f"OutboundRequest({self.method} {shown_url(self.url)}, headers={headers}, "
            f"body=<{len(self.body)} bytes>, timeout={self.timeout})"
        )

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    timeout: float
    # Transport safety and TLS the sender must apply.  Auth is not the request's: like
    # httpx, the request is data and whoever sends it applies auth (delivery/auth.py).
    policy: TargetPolicy = field(default_factory=TargetPolicy)
    ssl: SSLContext | None = None
    # body bytes of the answer the sender keeps (the rest is read and discarded)
    response_limit: int = 2048
    # ``through_authority(url)``, when the caller holds it already (a customer endpoint's
    # version): the sender connects to it, checks it and takes the request target from the
    # rest of ``url``, without cutting or caching per URL
    authority: str | None = None
    # with ``authority``: the request target (path and query) when ``url`` is sent as
    # written after it (``plain_target``), else ``None`` and the sender works it out
    target: str | None = None
