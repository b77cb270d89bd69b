"""Body bytes: serialised once, exactly as ``JSON.stringify`` would re-serialise them.

Expected texts below were produced by Node's ``JSON.stringify``; when ``node``
is installed the last test checks the same inputs against it directly.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import random
import shutil
import subprocess
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from kafkahooks.decode import decode_json
from kafkahooks.delivery.request import _exact, encode_json


def test_compact_separators() -> None:
    assert encode_json({"a": [1, 2, {"b": None}], "c": True}) == b'{"a":[1,2,{"b":null}],"c":true}'


def test_non_ascii_is_utf8_not_escaped() -> None:
    body = encode_json({"name": "Zoë Müller", "emoji": "😀", "cjk": "電話"})
    assert body == '{"name":"Zoë Müller","emoji":"😀","cjk":"電話"}'.encode()
    assert b"\\u" not in body


def test_key_order_is_kept() -> None:
    assert encode_json({"z": 1, "a": 2, "m": 3}) == b'{"z":1,"a":2,"m":3}'


STRINGIFY_CASES: list[tuple[Any, str]] = [
    # escapes: quotes, backslash, control characters; "/", DEL, U+2028/2029 stay raw
    (
        {"s": 'q" b\\ /\b\f\n\r\t\x00\x1f\x7f\u2028\u2029'},
        '{"s":"q\\" b\\\\ /\\b\\f\\n\\r\\t\\u0000\\u001f\x7f\u2028\u2029"}',
    ),
    # numbers: JavaScript's layout of the same shortest digits
    (
        [0.1, 1.5, -0.0, 2.0, 1e21, 1e-7, 1.5e-7, 0.00001, 0.000015, 0.0001, 1e16],
        "[0.1,1.5,0,2,1e+21,1e-7,1.5e-7,0.00001,0.000015,0.0001,10000000000000000]",
    ),
    (
        [float(2**60), 123456789012345680000.0, 1.7976931348623157e308, 5e-324, 0.1 + 0.2],
        "[1152921504606847000,123456789012345680000,1.7976931348623157e+308,5e-324,"
        "0.30000000000000004]",
    ),
    (
        {"deep": {"list": [{"x": 1e-5}], "ok": "v1.0, e-0, 1e+5 as text"}},
        '{"deep":{"list":[{"x":0.00001}],"ok":"v1.0, e-0, 1e+5 as text"}}',
    ),
    # a lone surrogate (valid in JSON text via \\ud800) is written as an escape
    ({"s": "a\ud800b"}, '{"s":"a\\ud800b"}'),
    ("top-level string", '"top-level string"'),
    (1.0, "1"),
]


@pytest.mark.parametrize(("payload", "expected"), STRINGIFY_CASES)
def test_equals_json_stringify(payload: Any, expected: str) -> None:
    assert encode_json(payload) == expected.encode("utf-8")


def test_integral_floats_from_decode_json_come_back_as_ints() -> None:
    raw = b'{"a":1.0,"b":-0.0,"c":1e3,"d":2.5,"e":0.00001,"h":[1E2,0.1e1],"big":1e16}'
    value = decode_json(raw)
    assert value["a"] == 1 and type(value["a"]) is int
    assert type(value["c"]) is int and type(value["h"][1]) is int
    # JSON.stringify(JSON.parse(raw))
    assert encode_json(value) == (
        b'{"a":1,"b":0,"c":1000,"d":2.5,"e":0.00001,"h":[100,1],"big":10000000000000000}'
    )


def test_decoded_text_round_trips_like_javascript() -> None:
    raw = b'{"s":"\\u00e9\\u2028\\ud83d\\ude00\\ud800 \\/ x"}'
    assert encode_json(decode_json(raw)) == '{"s":"é\u2028😀\\ud800 / x"}'.encode()


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_json({"x": float("nan")})
    with pytest.raises(ValueError):
        encode_json([float("inf")])


def test_non_json_types_are_refused() -> None:
    with pytest.raises(TypeError):
        encode_json({"x": object()})


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_against_node_json_stringify() -> None:
    payloads = [payload for payload, _ in STRINGIFY_CASES]
    script = (
        "const xs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(xs.map(x => JSON.stringify(x)).join('\\n'));"
    )
    done = subprocess.run(
        # ASCII-escaped input, so lone surrogates reach node intact
        ["node", "-e", script],
        input=json.dumps(payloads),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.split("\n") == [encode_json(p).decode() for p in payloads]


class _Colour(enum.Enum):
    RED = "red"


class _Level(enum.IntEnum):
    HIGH = 3


class _Text(str):
    pass


def _random_payload(rng: random.Random, depth: int = 0) -> Any:
    """Nested JSON-like values, with every kind the fast (orjson) path must hand over."""
    leaves: list[Callable[[], Any]] = [
        lambda: rng.choice(["", "plain", "Zoë 😀", "10:00:00.000Z", "a:1.5,b", "[2.0]", "e+5"]),
        lambda: rng.choice([0, -1, 7, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**30]),
        lambda: rng.choice([0.5, 1.0, -0.0, 1e-7, 1e16, 1e21, 5e-324, 0.1 + 0.2]),
        lambda: rng.choice([float("nan"), float("inf"), float("-inf")]),
        lambda: rng.choice([None, True, False]),
        lambda: rng.choice(["a\ud800b", _Text("sub"), _Colour.RED, _Level.HIGH]),
        lambda: rng.choice([uuid.UUID(int=rng.getrandbits(128)), dt.date(2026, 1, 2)]),
    ]
    if depth < 3 and rng.random() < 0.4:
        if rng.random() < 0.5:
            return [_random_payload(rng, depth + 1) for _ in range(rng.randrange(4))]
        keys = ["id", "at", "n", 1, None] if rng.random() < 0.1 else ["id", "at", "n", "x"]
        return {rng.choice(keys): _random_payload(rng, depth + 1) for _ in range(4)}
    weights = [30, 20, 4, 1, 10, 2, 1]
    return rng.choices(leaves, weights)[0]()


def _outcome(encode: Callable[[Any], bytes], payload: Any) -> bytes | str:
    try:
        return encode(payload)
    except (TypeError, ValueError) as exc:
        return type(exc).__name__


def test_the_fast_path_writes_exactly_what_the_exact_path_writes() -> None:
    """orjson may only answer where its bytes are the standard library's (JSON.stringify's)."""
    rng = random.Random(4)
    fast = 0
    for _ in range(5000):
        payload = _random_payload(rng)
        assert _outcome(encode_json, payload) == _outcome(_exact, payload), payload
        fast += _outcome(encode_json, payload) == _outcome(orjson.dumps, payload)
    assert fast > 1000  # and it does answer for the plain ones


def test_floats_hidden_behind_null_still_take_the_exact_path() -> None:
    # orjson writes NaN as null: a body with nulls is checked for floats
    with pytest.raises(ValueError):
        encode_json({"a": None, "b": [float("nan")]})
    assert encode_json({"a": None, "b": [1]}) == b'{"a":null,"b":[1]}'


def test_uuids_and_enums_are_written_as_their_values() -> None:
    assert encode_json([uuid.UUID(int=1), _Colour.RED, 1.5]) == (
        b'["00000000-0000-0000-0000-000000000001","red",1.5]'
    )
