"""A webhook receiver for tests, on loopback.  It must not import kafkahooks:
it checks what arrives with its own code, as a customer's endpoint would.

Behaviour is a callable ``(Request) -> Reply`` that tests swap at will
(fail the first N, answer 400, hang, ...).  Every request is recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"received":true}'
    delay: float = 0.0


Behaviour = Callable[[Request], Reply]


def ok(_: Request) -> Reply:
    return Reply()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timed out, was killed) is what fault tests do, not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Receiver:
    def __init__(self, behaviour: Behaviour = ok, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        # requests being served right now, and the most ever served at once
        self.in_flight = 0
        self.max_concurrent = 0
        self._server = _Server(("127.0.0.1", 0), self._handler())
        if tls is not None:  # HTTPS: the handshake runs as each connection is accepted
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, predicate: Callable[[list[Request]], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(list(self.requests)):
                    return
            time.sleep(0.05)
        with self.lock:
            count = len(self.requests)
        raise AssertionError(f"receiver condition not met within {timeout}s ({count} requests)")

    def wait_count(self, n: int, timeout: float = 30) -> None:
        self.wait_for(lambda reqs: len(reqs) >= n, timeout)

    def ok_requests(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if getattr(r, "status", 200) < 300]

    def _enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self.in_flight)

    def _leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                receiver._enter()
                try:
                    self._answer()
                finally:
                    receiver._leave()

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                reply = receiver.behaviour(request)
                request.status = reply.status  # type: ignore[attr-defined]
                with receiver.lock:
                    receiver.requests.append(request)
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_POST = do_PUT = do_PATCH = do_GET = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def hmac_hex(secret: str, content: bytes) -> str:
    return hmac.new(secret.encode(), content, hashlib.sha256).hexdigest()


def verify_hex_signature(request: Request, secret: str, header: str = "x-signature") -> bool:
    """The OutRival/Auvious recipe: hex HMAC-SHA256 of the raw body."""
    given = request.headers.get(header.lower(), "")
    return hmac.compare_digest(hmac_hex(secret, request.body), given)


def with_latency(behaviour: Behaviour, max_delay: float, seed: int = 0) -> Behaviour:
    """Answer as ``behaviour`` does, after a random 0..``max_delay`` seconds."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def answer(request: Request) -> Reply:
        reply = behaviour(request)
        with lock:
            reply.delay += rng.uniform(0, max_delay)
        return reply

    return answer


def fail_first_attempt(
    select: Callable[[Request], bool], status: int = 503, then: Behaviour = ok
) -> Behaviour:
    """``status`` the first time a selected request's ``webhook-id`` is seen, then ``then``."""
    seen: set[str] = set()
    lock = threading.Lock()

    def answer(request: Request) -> Reply:
        if select(request):
            wid = request.headers.get("webhook-id", "")
            with lock:
                first = wid not in seen
                seen.add(wid)
            if first:
                return Reply(status)
        return then(request)

    return answer
