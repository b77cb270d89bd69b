"""Why deliveries go through kafkahooks' own HTTP/1.1 client: the clients kafkahooks could
use, POSTing a small signed JSON body to a local nginx (answers 200 at once).

http1 is the product's only delivery client (guard in its connect path, one deadline, capped
answers); aiohttp and httpx are comparison rows here and nothing more.

    .venv/bin/python bench/http_clients.py [--requests 20000] [--concurrency 20,200]

Prints requests/s and the client's CPU per request (user + system, µs).  Run it on an
otherwise idle machine: nginx shares the two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
from nginx_receiver import Nginx, ensure_nginx

from kafkahooks.delivery.guard import TargetPolicy
from kafkahooks.delivery.http1 import Http1Sender
from kafkahooks.delivery.request import OutboundRequest

BODY = b'{"event":"status-changed","type":"VOICE","data":{"status":"ringing"}}'
HEADERS = {"content-type": "application/json", "x-signature": "ab" * 32}


async def _run(n: int, concurrency: int, send: object) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await send()  # type: ignore[operator]

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - started)


async def with_aiohttp(url: str, n: int, concurrency: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def send() -> None:
            async with s.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()

        return await _run(n, concurrency, send)


async def with_httpx(url: str, n: int, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:

        async def send() -> None:
            await client.post(url, content=BODY, headers=HEADERS)

        return await _run(n, concurrency, send)


async def with_http1(url: str, n: int, concurrency: int) -> float:
    sender = Http1Sender(max_connections=concurrency)
    policy = TargetPolicy(allow_insecure=True, allow_private=True)

    async def send() -> None:
        request = OutboundRequest("POST", url, dict(HEADERS), BODY, 10.0, policy=policy)
        await sender.send(request)

    try:
        return await _run(n, concurrency, send)
    finally:
        await sender.aclose()


CLIENTS = (
    ("kafkahooks http1", with_http1),
    ("aiohttp ClientSession (bench)", with_aiohttp),
    ("httpx default (bench)", with_httpx),
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--concurrency", default="20,200", help="comma list")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        nginx = Nginx(Path(tmp), "fast", ensure_nginx()).start()
        try:
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                for name, fn in CLIENTS:
                    before = os.times()
                    rate = asyncio.run(fn(nginx.url, args.requests, concurrency))
                    after = os.times()
                    cpu = (after.user - before.user) + (after.system - before.system)
                    print(f"concurrency {concurrency:>4}  {name:<28} {rate:>8,.0f} requests/s"
                          f"  {cpu / args.requests * 1e6:>5,.0f} µs CPU/request", flush=True)
        finally:
            nginx.stop()


if __name__ == "__main__":
    main()
