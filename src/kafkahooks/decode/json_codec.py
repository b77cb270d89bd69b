"""JSON values.

Floats with an integral value are read as ints, so re-encoding gives what
JavaScript's ``JSON.stringify`` gives for the same number (``1.0`` → ``1``).

msgspec reads a value about 3x faster than the standard library (``bench/json_codecs.py``)
and, given the same float hook, to the same Python value.  What it refuses (``NaN``,
lone surrogate escapes, invalid UTF-8, …) goes to the standard library, which either
reads it as before or gives the error the dead letter names.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from kafkahooks.decode.errors import DecodeError

__all__ = ["DecodeError", "decode_json", "json_number"]


def json_number(value: float) -> int | float:
    """The number ``JSON.stringify`` would write: integral floats become ints."""
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _number(text: str) -> int | float:
    return json_number(float(text))


_decoder = json.JSONDecoder(parse_float=_number)
_fast = msgspec.json.Decoder(float_hook=_number)


def decode_json(raw: bytes) -> Any:
    try:
        return _fast.decode(raw)
    except ValueError:  # msgspec.DecodeError, UnicodeDecodeError
        pass  # not plain JSON: the standard library reads it as it always did, or says why
    except RecursionError:
        raise _too_deep() from None
    try:
        return _decoder.decode(raw.decode("utf-8"))
    except RecursionError:  # a poison record, not a reason to stop the bridge
        raise _too_deep() from None
    except UnicodeDecodeError as exc:
        raise DecodeError(f"value is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} col {exc.colno}"
        raise DecodeError(f"value is not JSON: {exc.msg} at {where}") from None


def _too_deep() -> DecodeError:
    return DecodeError("value is not JSON that can be read: nested too deeply")
