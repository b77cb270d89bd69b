"""Why deliveries go through aiohttp: the HTTP clients kafkahooks could use, POSTing a
small signed JSON body to a local nginx (answers 200 at once) at concurrency 20.

    .venv/bin/python bench/http_clients.py [--requests 20000] [--concurrency 20]

Prints requests/s per client.  Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
from nginx_receiver import Nginx, ensure_nginx

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=20)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        nginx = Nginx(Path(tmp), "fast", ensure_nginx()).start()
        try:
            for name, fn in (("aiohttp", with_aiohttp), ("httpx (default transport)", with_httpx)):
                rate = asyncio.run(fn(nginx.url, args.requests, args.concurrency))
                print(f"{name:<28} {rate:>8,.0f} requests/s")
        finally:
            nginx.stop()


if __name__ == "__main__":
    main()
