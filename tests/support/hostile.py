"""A hostile webhook receiver on loopback: one listening port per misbehaviour.

Each case is a small coroutine that reads a request off a raw asyncio stream and answers
it the way an attacker-controlled endpoint could: impossible ``Retry-After`` values, header
floods, a second response glued to the first, bytes on an idle keep-alive connection, a
trickle, an endless body, an answer before the body, interim and upgrade responses, a body
cut short.  The server runs in its own process (``HostileServer`` starts it), so the cases
that stream bytes as fast as the bridge reads them never hold the test process's GIL while
the healthy receiver there timestamps arrivals.

Everything it sees is appended, one JSON object a line, to an observation log the test
reads back: connections opened, requests (connection number, request number on that
connection, payload ``id``, ``webhook-id``), bytes sent, and who closed.  It listens on
127.0.0.1 only and exits by itself after ``--lifetime`` seconds.  Like the healthy
receiver, it must not import kafkahooks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

__all__ = ["CASES", "HostileServer"]

KEEP, CLOSE = True, False  # what a case returns: serve the next request on this connection?
MiB = 1 << 20
EMPTY_503 = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
EMPTY_200 = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
# A far-future HTTP-date whose year overflows a C long in ``email.utils``.
HUGE_YEAR_DATE = b"Fri, 31 Dec 99999999999999999999 23:59:59 GMT"
# The start of a response on an idle connection, cut inside a header value: a client that
# keeps parsing would read the next real status line as that header's value.
IDLE_BYTES = b"HTTP/1.1 200 OK\r\nx-pad: "
TRICKLE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
TRICKLE_EVERY = 0.5  # seconds per byte: the answer takes ~20 s, any route timeout is shorter
ENDLESS_CHUNK = b"4000\r\n" + b"e" * 0x4000 + b"\r\n"  # 16 KiB chunks, forever
ENDLESS_PAUSE = 0.005  # ~3 MiB/s: endless within any timeout, not a CPU benchmark


@dataclass
class Exchange:
    """One request received by one case, with the stream to answer on."""

    case: str
    conn: int  # connection number within the case, from 1
    nth: int  # request number on this connection, from 1
    order: int  # request number within the case, from 1
    head: bytes
    writer: asyncio.StreamWriter
    reader: asyncio.StreamReader
    server: _Server
    sent: int = 0

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        self.sent += len(data)
        await self.writer.drain()

    def note(self, kind: str, **fields: Any) -> None:
        self.server.note(kind, self.case, conn=self.conn, nth=self.nth, **fields)


Case = Callable[[Exchange], Awaitable[bool]]


def _status(status: bytes, *headers: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


async def retry_after_huge_year(x: Exchange) -> bool:
    await x.send(
        _status(b"503 Service Unavailable", b"retry-after: " + HUGE_YEAR_DATE, b"content-length: 0")
    )
    return KEEP


async def retry_after_superscript(x: Exchange) -> bool:
    # 0xB2 is "²" in Latin-1, how HTTP field bytes decode: str.isdigit() says yes
    await x.send(_status(b"503 Service Unavailable", b"retry-after: \xb2", b"content-length: 0"))
    return KEEP


async def retry_after_arabic_digits(x: Exchange) -> bool:
    value = "١٢".encode()  # Arabic-Indic twelve, as UTF-8
    await x.send(
        _status(b"503 Service Unavailable", b"retry-after: " + value, b"content-length: 0")
    )
    return KEEP


async def _flood(x: Exchange, lines: bytes, repeat: int) -> bool:
    """A 200 whose header block is ``lines`` ``repeat`` times: delivered only if read whole."""
    await x.send(b"HTTP/1.1 200 OK\r\n")
    for _ in range(repeat):
        await x.send(lines)
    await x.send(b"content-length: 0\r\n\r\n")
    return KEEP


async def header_flood_64mib(x: Exchange) -> bool:
    line = b"x-flood: " + b"f" * 1013 + b"\r\n"  # 1 KiB a field
    return await _flood(x, line * 64, 1024)  # 64 KiB a write, 64 MiB in all


async def header_flood_10000_fields(x: Exchange) -> bool:
    return await _flood(x, b"a: b\r\n" * 10_000, 1)  # 60,000 bytes: only the count is excessive


async def header_flood_1mib_field(x: Exchange) -> bool:
    return await _flood(x, b"x-big: " + b"b" * MiB + b"\r\n", 1)


async def desync_503_then_200(x: Exchange) -> bool:
    await x.send(EMPTY_503 + EMPTY_200)  # one write: a 200 glued behind the real answer
    return KEEP


async def idle_bytes(x: Exchange) -> bool:
    """The case's first request is answered 200, every later one 503; each answer is
    followed, once the connection is idle, by the start of an unsolicited response."""
    await x.send(EMPTY_200 if x.order == 1 else EMPTY_503)
    await asyncio.sleep(0.1)
    await x.send(IDLE_BYTES)
    x.note("idle-bytes")
    return KEEP


async def trickle(x: Exchange) -> bool:
    for i in range(len(TRICKLE)):
        await x.send(TRICKLE[i : i + 1])
        await asyncio.sleep(TRICKLE_EVERY)
    return KEEP


async def endless_body(x: Exchange) -> bool:
    await x.send(_status(b"200 OK", b"transfer-encoding: chunked"))
    deadline = time.monotonic() + 120  # bounded even if the client never gives up
    while time.monotonic() < deadline:
        await x.send(ENDLESS_CHUNK)
        await asyncio.sleep(ENDLESS_PAUSE)
    return CLOSE


async def early_answer(x: Exchange) -> bool:
    # called before the body is read (see EARLY): answer, then close without reading it
    await x.send(_status(b"503 Service Unavailable", b"connection: close", b"content-length: 0"))
    return CLOSE


async def switching_protocols(x: Exchange) -> bool:
    await x.send(_status(b"101 Switching Protocols", b"upgrade: websocket", b"connection: Upgrade"))
    await asyncio.sleep(0.05)
    await x.send(b"\x81\x05hello")  # a WebSocket text frame: not HTTP any more
    try:  # wait for the client to hang up, not forever
        await asyncio.wait_for(x.reader.read(), 15)
        x.note("client-hung-up")
    except TimeoutError:
        x.note("client-kept-upgraded-connection")
    return CLOSE


async def continue_then_503(x: Exchange) -> bool:
    await x.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    await asyncio.sleep(0.05)
    await x.send(EMPTY_503)
    return KEEP


async def early_hints_then_503(x: Exchange) -> bool:
    await x.send(_status(b"103 Early Hints", b"link: </s.css>; rel=preload"))
    await asyncio.sleep(0.05)
    await x.send(EMPTY_503)
    return KEEP


async def cut_short(x: Exchange) -> bool:
    # 100 bytes promised, 10 sent, then the end of the connection
    await x.send(_status(b"200 OK", b"connection: close", b"content-length: 100") + b"x" * 10)
    return CLOSE


CASES: dict[str, Case] = {
    case.__name__: case
    for case in (
        retry_after_huge_year,
        retry_after_superscript,
        retry_after_arabic_digits,
        header_flood_64mib,
        header_flood_10000_fields,
        header_flood_1mib_field,
        desync_503_then_200,
        idle_bytes,
        trickle,
        endless_body,
        early_answer,
        switching_protocols,
        continue_then_503,
        early_hints_then_503,
        cut_short,
    )
}
EARLY = frozenset({"early_answer"})  # answered before the request body is read


@dataclass
class _Server:
    log: TextIO
    connections: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)

    def note(self, kind: str, case: str, **fields: Any) -> None:
        self.log.write(json.dumps({"t": time.time(), "kind": kind, "case": case, **fields}))
        self.log.write("\n")
        self.log.flush()

    def handler(
        self, case: str
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = self.connections[case] = self.connections.get(case, 0) + 1
            self.note("connect", case, conn=conn)
            nth, sent, why = 0, 0, "server"
            try:
                while True:
                    exchange = await self._read(case, conn, nth + 1, reader, writer)
                    if exchange is None:
                        why = "client"
                        break
                    nth += 1
                    try:
                        keep = await CASES[case](exchange)
                    finally:
                        sent += exchange.sent
                    if not keep:
                        break
            except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
                why = f"client ({type(exc).__name__})"
            finally:
                self.note("closed", case, conn=conn, requests=nth, sent=sent, by=why)
                writer.close()

        return serve

    async def _read(
        self,
        case: str,
        conn: int,
        nth: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> Exchange | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None  # the client closed an idle connection
        order = self.requests[case] = self.requests.get(case, 0) + 1
        fields = _fields(head)
        body = b""
        if case not in EARLY:
            body = await reader.readexactly(int(fields.get("content-length", "0")))
        self.note(
            "request",
            case,
            conn=conn,
            nth=nth,
            order=order,
            id=_payload_id(body),
            webhook_id=fields.get("webhook-id", ""),
        )
        return Exchange(case, conn, nth, order, head, writer, reader, self)


def _fields(head: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name:
            out[name.strip().lower()] = value.strip()
    return out


def _payload_id(body: bytes) -> Any:
    try:
        return json.loads(body).get("id")
    except (ValueError, AttributeError):
        return None


async def _serve(cases: list[str], log: Path, lifetime: float) -> None:
    with log.open("a") as out:
        server = _Server(out)
        ports: dict[str, int] = {}
        listeners = []
        for case in cases:
            listener = await asyncio.start_server(server.handler(case), "127.0.0.1", 0)
            listeners.append(listener)
            ports[case] = listener.sockets[0].getsockname()[1]
        print(json.dumps({"ports": ports}), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), lifetime)
        for listener in listeners:
            listener.close()


class HostileServer:
    """The hostile receiver as a child process; ``url(case)`` is that case's endpoint."""

    def __init__(self, cases: list[str], log: Path, lifetime: float = 600) -> None:
        unknown = set(cases) - set(CASES)
        assert not unknown, f"unknown cases: {sorted(unknown)}"
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--log", str(log), "--lifetime", str(lifetime), *cases],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the hostile server did not start"
        self.ports: dict[str, int] = json.loads(line)["ports"]

    def url(self, case: str) -> str:
        return f"http://127.0.0.1:{self.ports[case]}/hooks/{case}"

    def observations(
        self, case: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        seen = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        return [
            o
            for o in seen
            if (case is None or o["case"] == case) and (kind is None or o["kind"] == kind)
        ]

    def requests(self, case: str) -> list[dict[str, Any]]:
        return self.observations(case, "request")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--lifetime", type=float, default=600)
    parser.add_argument("cases", nargs="+", choices=sorted(CASES))
    args = parser.parse_args()
    asyncio.run(_serve(args.cases, args.log, args.lifetime))


if __name__ == "__main__":
    main()
