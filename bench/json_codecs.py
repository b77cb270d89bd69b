"""Micro-benchmark: reading event values and writing batch bodies, per event, on one core.

The JSON codec is the largest single cost of a batch-mode event.  This measures what
``decode_json`` and ``encode_json`` cost against the standard library they replaced,
on the throughput benchmark's events and template (``bench/workload.py``, ``rows.py``):

    .venv/bin/python bench/json_codecs.py [--events N] [--repeat R]

Figures are microseconds of process CPU time per event (best of R rounds).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
import workload
from rows import TEMPLATE

from kafkahooks.decode.json_codec import decode_json, json_number
from kafkahooks.delivery.request import _exact, encode_json
from kafkahooks.event import Event
from kafkahooks.templating.templates import RenderContext, compile_template


def _best(fn: Callable[[], Any], count: int, repeat: int) -> float:
    """Microseconds of CPU per item, best of ``repeat`` rounds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best / count * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()

    raws = [value for _, value in workload.events(args.events, max(1, args.events // 10))]
    stdlib = json.JSONDecoder(parse_float=lambda text: json_number(float(text)))
    plain_msgspec = msgspec.json.Decoder()
    template = compile_template(TEMPLATE, "omit")
    items = []
    for offset, raw in enumerate(raws):
        event = Event("bench.calls", 0, offset, 1_700_000_000_000, b"call-1", raw)
        event.value = decode_json(raw)
        ctx = RenderContext(event, f"evt_{offset:032x}", "bench", "1")
        items.append({"id": ctx.event_id, "data": template.render(ctx)})
    batches = [items[i : i + 100] for i in range(0, len(items), 100)]

    def read_stdlib() -> list[Any]:
        return [stdlib.decode(v.decode()) for v in raws]

    n, r = len(raws), args.repeat
    rows = [
        ("read: json (standard library, before)", read_stdlib),
        ("read: msgspec, no float hook", lambda: [plain_msgspec.decode(v) for v in raws]),
        ("read: decode_json (msgspec + float hook)", lambda: [decode_json(v) for v in raws]),
        ("write: json, exact path (before)", lambda: [_exact(b) for b in batches]),
        ("write: orjson alone", lambda: [orjson.dumps(b) for b in batches]),
        ("write: encode_json (orjson + checks)", lambda: [encode_json(b) for b in batches]),
    ]
    print(f"{n:,} events of {sum(map(len, raws)) // n} bytes; batches of 100; CPU µs per event")
    for name, fn in rows:
        print(f"  {name:44s} {_best(fn, n, r):6.2f}")


if __name__ == "__main__":
    main()
