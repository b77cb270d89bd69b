"""Body bytes: serialised once, exactly as ``JSON.stringify`` would re-serialise them.

Expected texts below were produced by Node's ``JSON.stringify``; when ``node``
is installed the last test checks the same inputs against it directly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from kafkahooks.decode import decode_json
from kafkahooks.delivery.request import encode_json


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
