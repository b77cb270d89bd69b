"""Row ``limit``: aiohttp POSTing pre-rendered signed bodies, no Kafka.

The bodies are rendered and signed by kafkahooks' own route code before the
clock starts, so this is the ceiling of the HTTP path on this machine.
Usage: limit_client.py EVENTS_JSONL ROUTES_FILE URL CONCURRENCY
Prints one JSON line: sent, failed, first/last request times (epoch seconds).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections.abc import Iterator

import aiohttp
import handmade

Prepared = tuple[bytes, dict[str, str]]


def kafkahooks_bodies(lines: list[tuple[str, str]], routes_file: str) -> list[Prepared]:
    from kafkahooks.config import load_config
    from kafkahooks.delivery.route import compile_route
    from kafkahooks.event import Event

    route = compile_route(load_config(routes_file).routes[0])
    now = time.time()
    out = []
    for offset, (key, value) in enumerate(lines):
        event = Event("bench", 0, offset, int(now * 1000), key.encode(), value.encode())
        event.value = json.loads(value)
        _, etype = route.match(event)
        ctx = route.context(event, etype)
        ctx.sent_at = now
        request = route.build(ctx, route.render_body(ctx), now)
        out.append((request.body, request.headers))
    return out


def handmade_bodies(lines: list[tuple[str, str]]) -> list[Prepared]:
    out = []
    for offset, (key, value) in enumerate(lines):
        payload = handmade.body(json.loads(value), key, f"bench/0@{offset}")
        out.append((payload, handmade.headers(payload, f"bench/0@{offset}")))
    return out


async def post_all(url: str, prepared: list[Prepared], concurrency: int) -> dict[str, float]:
    source: Iterator[Prepared] = iter(prepared)
    failed = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failed
        for payload, headers in source:
            async with session.post(url, data=payload, headers=headers) as resp:
                await resp.read()
                failed += resp.status >= 300

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        first = time.time()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        last = time.time()
    return {"sent": len(prepared), "failed": failed, "first": first, "last": last}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(events_file: str, routes_file: str, url: str, concurrency: str) -> None:
    with open(events_file, encoding="utf-8") as fh:
        lines = [(str(k), str(v)) for k, v in (json.loads(line) for line in fh)]
    try:
        prepared, made_by = kafkahooks_bodies(lines, routes_file), "kafkahooks"
    except Exception as exc:  # the route API moved: still measure, with hand-made bodies
        print(
            f"limit: kafkahooks rendering failed ({exc!r}); using hand-made bodies", file=sys.stderr
        )
        prepared, made_by = handmade_bodies(lines), "handmade"
    before = _cpu()
    result = asyncio.run(post_all(url, prepared, int(concurrency)))
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    own = {"rss_kb": rss_kb, "cpu": _cpu() - before, "bodies": made_by}
    print(json.dumps({**result, **own}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
