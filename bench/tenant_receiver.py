"""A loopback webhook receiver for many tenants, each switchable to fail (bench/isolation.py).

One process, one port: ``POST /t/<tenant>`` is a tenant's endpoint.  Each tenant answers
as its mode says, switched at any time with ``GET /_mode/<tenant>/<mode>``:

* ``ok``: 200 at once;
* ``503``: 503 at once;
* ``hang``: the request is read and never answered (the connection stays open until
  the client gives up).

Every request is logged as one line ``<arrival unix s> <mode> <tenant> <webhook-id>
<body>`` to ``--log`` (buffered, written every 0.2 s and on SIGTERM), so the bench
reads arrivals, latencies and duplicates afterwards without Python in the request
path doing more than parsing.  Built on ``httptools`` and a bare asyncio protocol
(no framework): a receiver that costs little CPU leaves the shared 2 cores to the
bridge under test.

Run as ``python bench/tenant_receiver.py --port P --log FILE``; it prints ``ready``
once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

import httptools

MODES = ("ok", "503", "hang")
_REPLIES = {
    "ok": b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok",
    "503": b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\ndown",
}
_BAD = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class State:
    def __init__(self, log: Path) -> None:
        self.modes: dict[bytes, str] = {}
        self.lines: list[bytes] = []
        self.log = log.open("ab")

    def flush(self) -> None:
        if self.lines:
            lines, self.lines = self.lines, []
            self.log.write(b"".join(lines))
            self.log.flush()


class Conn(asyncio.Protocol):
    def __init__(self, state: State) -> None:
        self.state = state
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.wid = b"-"
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(_BAD)
            self.transport.close()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"webhook-id":
            self.wid = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        url, wid, body = self.url, self.wid, b"".join(self.body)
        self._reset()
        if url.startswith(b"/_mode/"):
            self._switch(url)
            return
        tenant = url.rsplit(b"/", 1)[-1]
        mode = self.state.modes.get(tenant, "ok")
        flat = body.replace(b"\n", b" ")
        self.state.lines.append(
            b"%.6f %s %s %s %s\n" % (time.time(), mode.encode(), tenant, wid, flat)
        )
        reply = _REPLIES.get(mode)
        if reply is not None:
            self.transport.write(reply)
        # hang: read, never answered; the client times out and closes the connection

    def _switch(self, url: bytes) -> None:
        assert self.transport is not None
        _, _, tenant, mode = url.decode().split("/", 3)
        if mode not in MODES:
            self.transport.write(_BAD)
            return
        self.state.modes[tenant.encode()] = mode
        self.state.lines.append(
            b"%.6f switch %s %s - -\n" % (time.time(), tenant.encode(), mode.encode())
        )
        self.transport.write(_REPLIES["ok"])


async def serve(port: int, log: Path) -> None:
    state = State(log)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Conn(state), "127.0.0.1", port, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    try:
        while not stop.is_set():
            state.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
    finally:
        server.close()
        state.flush()
        state.log.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", type=Path, required=True)
    args = p.parse_args()
    asyncio.run(serve(args.port, args.log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
