"""A small webhook receiver for the demo: verifies each signature on its own.

It recomputes the HMAC with its own code (not kafkahooks' signing module),
the way a customer's endpoint would, and records what arrived.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["VerifyingReceiver"]


@dataclass
class Received:
    requests: int = 0
    verified: int = 0
    rejected: int = 0
    ids: set[str] = field(default_factory=set)
    duplicates: int = 0
    by_key: dict[str, list[Any]] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default (5) resets a burst of new connections


class VerifyingReceiver:
    def __init__(self, secret: str, header: str = "x-signature", order_field: str = "callId"):
        self.secret = secret.encode()
        self.header = header
        self.order_field = order_field
        self.state = Received()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> VerifyingReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _record(self, body: bytes, signature: str | None, event_id: str | None) -> bool:
        expected = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        ok = signature is not None and hmac.compare_digest(expected, signature)
        with self._lock:
            state = self.state
            state.requests += 1
            if not ok:
                state.rejected += 1
                return False
            state.verified += 1
            if event_id in state.ids:
                state.duplicates += 1
                return True
            state.ids.add(event_id or "")
            payload = json.loads(body)
            key = str(payload.get(self.order_field))
            status = (payload.get("data") or {}).get("status")
            state.by_key.setdefault(key, []).append(status)
        return True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                ok = receiver._record(
                    body, self.headers.get(receiver.header), self.headers.get("webhook-id")
                )
                reply = b'{"received":true}' if ok else b'{"error":"invalid signature"}'
                self.send_response(200 if ok else 401)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
