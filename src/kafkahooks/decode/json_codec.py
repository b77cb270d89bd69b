"""JSON values.

Floats with an integral value are read as ints, so re-encoding gives what
JavaScript's ``JSON.stringify`` gives for the same number (``1.0`` → ``1``).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DecodeError", "decode_json"]


class DecodeError(ValueError):
    """The record's value cannot be decoded; it goes to the dead-letter topic."""


def _number(text: str) -> int | float:
    value = float(text)
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


_decoder = json.JSONDecoder(parse_float=_number)


def decode_json(raw: bytes) -> Any:
    try:
        return _decoder.decode(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DecodeError(f"value is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise DecodeError(
            f"value is not JSON: {exc.msg} at line {exc.lineno} col {exc.colno}"
        ) from None
