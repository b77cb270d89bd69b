"""``kafkahooks listen``: a local webhook receiver that verifies and prints each delivery.

Like ``stripe listen`` / ``svix listen``, for development on one machine: it binds
loopback only, answers 2xx to a delivery whose signature verifies and 401 to one that
does not (so a wrong secret shows up as retries in kafkahooks too), and prints one line
per request: time, method, path, webhook-id, verified or not (and why), and an excerpt of
the body with every control character escaped, so a payload cannot drive the terminal.

Invariant: verification is this module's own code, written the way a customer's
endpoint would check a signature (as ``receiver.py`` does for the demo), not a call into
kafkahooks' signing module; what kafkahooks signs wrongly, this refuses.  Secrets are
never printed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kafkahooks.config import SigningConfig

__all__ = ["ListenReceiver", "SignatureCheck", "escape_excerpt", "signature_check"]

EXCERPT_CHARS = 200
# Each scheme's header when the routes file names none (the same defaults a receiver's
# documentation would state).
_DEFAULT_HEADER = {
    "hmac-sha256": "x-signature",
    "timestamped": "x-signature",
    "standard-webhooks": "webhook-signature",
    "t-v1": "webhook-signature",
}


@dataclass(frozen=True)
class SignatureCheck:
    """How one route signs, and the keys to check with (never shown in a repr)."""

    scheme: str
    keys: tuple[bytes, ...] = field(repr=False)
    header: str
    timestamp_header: str | None
    rotation_header: str
    encoding: str
    prefix: str

    def verify(self, headers: Mapping[str, str], body: bytes) -> tuple[bool, str]:
        """``(verified, why not)`` for one request; header names compare case-insensitively."""
        lower = {k.lower(): v for k, v in headers.items()}
        sent = lower.get(self.header.lower())
        if sent is None:
            return False, f"no {self.header} header"
        if self.scheme == "standard-webhooks":
            msg_id, ts = lower.get("webhook-id"), lower.get("webhook-timestamp")
            if msg_id is None or ts is None:
                return False, "no webhook-id or webhook-timestamp header"
            content = f"{msg_id}.{ts}.".encode() + body
            candidates = [s.split(",", 1)[1] for s in sent.split() if s.startswith("v1,")]
        elif self.scheme == "t-v1":
            parts = [p.split("=", 1) for p in sent.split(",") if "=" in p]
            ts = next((v for k, v in parts if k == "t"), None)
            if ts is None:
                return False, f"no t= in {self.header}"
            content = f"{ts}.".encode() + body
            candidates = [v for k, v in parts if k == "v1"]
        else:
            content = body
            if self.scheme == "timestamped":
                ts = lower.get((self.timestamp_header or "").lower())
                if ts is None:
                    return False, f"no {self.timestamp_header} header"
                content = f"{ts}.".encode() + body
            others = lower.get(self.rotation_header.lower(), "")
            candidates = [sent, *(s for s in others.split(",") if s)]
            candidates = [c.removeprefix(self.prefix) for c in candidates]
        for key in self.keys:
            digest = hmac.new(key, content, hashlib.sha256).digest()
            expected = digest.hex() if self.encoding == "hex" else base64.b64encode(digest).decode()
            if any(hmac.compare_digest(expected, c) for c in candidates):
                return True, ""
        return False, "signature mismatch (wrong secret or scheme?)"


def signature_check(config: SigningConfig) -> SignatureCheck:
    """The check for a route's ``signing`` section (a preset already filled in)."""
    std = config.scheme == "standard-webhooks"
    secrets = [s.get_secret_value() for s in config.secrets]
    keys = tuple(
        base64.b64decode(s.removeprefix("whsec_")) if std else s.encode("utf-8") for s in secrets
    )
    header = config.header or _DEFAULT_HEADER[config.scheme]
    timestamp_header = config.timestamp_header
    if config.scheme == "timestamped" and not timestamp_header:
        timestamp_header = "x-signature-timestamp"
    return SignatureCheck(
        scheme=config.scheme,
        keys=keys,
        header=header,
        timestamp_header=timestamp_header,
        rotation_header=config.rotation_header or f"{header}-rotated",
        encoding=config.encoding or ("base64" if std else "hex"),
        prefix=config.prefix,
    )


def escape_excerpt(data: bytes, limit: int = EXCERPT_CHARS) -> str:
    """The first ``limit`` characters of ``data`` on one line: controls, format and
    unassigned characters (bidi overrides among them) and undecodable bytes escaped."""
    text = data.decode("utf-8", errors="backslashreplace")
    cut = len(text) > limit
    out = []
    for char in text[:limit]:
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out) + ("…" if cut else "")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


class ListenReceiver:
    """A loopback HTTP server: every request is verified, answered and passed to ``show``
    as one printable line."""

    def __init__(self, check: SignatureCheck, show: Callable[[str], None], port: int = 0) -> None:
        self.check = check
        self.show = show
        self.verified = 0
        self.rejected = 0
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), self._handler())
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/webhooks"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        """From another thread (or a signal handler's thread): stop serving."""
        threading.Thread(target=self._server.shutdown, daemon=True).start()

    def close(self) -> None:
        self._server.server_close()

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> int:
        """Verify one request, print its line; the status to answer with."""
        ok, why = self.check.verify(headers, body)
        with self._lock:
            if ok:
                self.verified += 1
            else:
                self.rejected += 1
        stamp = time.strftime("%H:%M:%S", time.localtime())
        event_id = escape_excerpt(headers.get("webhook-id", "-").encode(), 80)
        verdict = "verified" if ok else f"NOT verified: {why}"
        self.show(
            f"{stamp} {method} {escape_excerpt(path.encode(), 200)} webhook-id={event_id} "
            f"{verdict} body={escape_excerpt(body)}"
        )
        return 200 if ok else 401

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _any(self) -> None:
                length = int(self.headers.get("content-length", 0) or 0)
                body = self.rfile.read(length) if length > 0 else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.handle(self.command, self.path, headers, body)
                reply = b'{"received":true}' if status < 300 else b'{"error":"invalid signature"}'
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_POST = do_PUT = do_PATCH = do_GET = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
