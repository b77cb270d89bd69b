"""A sample webhook receiver for docker-compose: verifies ``x-signature`` and logs.

Standard library only, and independent of kafkahooks: it checks the hex
HMAC-SHA256 of the raw body with the shared ``WEBHOOK_SECRET``, the way any
receiver should, before it trusts the payload.  2xx for a valid signature,
401 otherwise (kafkahooks treats 401 as permanent and dead-letters).

    WEBHOOK_SECRET=... [HOST=0.0.0.0] [PORT=8080] python receiver.py
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIGNATURE_HEADER = "x-signature"


def signature_ok(body: bytes, signature: str | None, secret: str) -> bool:
    if not signature:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def make_server(host: str, port: int, secret: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's method naming
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            valid = signature_ok(body, self.headers.get(SIGNATURE_HEADER), secret)
            self.send_response(200 if valid else 401)
            self.send_header("content-length", "0")
            self.end_headers()
            self._log(body, valid)

        def _log(self, body: bytes, valid: bool) -> None:
            try:
                status = json.loads(body).get("data", {}).get("status")
            except (ValueError, AttributeError):
                status = None
            verdict = "signature ok" if valid else "BAD SIGNATURE"
            event_id = self.headers.get("webhook-id", "-")
            print(f"{verdict} {self.path} id={event_id} status={status}", flush=True)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request is printed by _log

    return ThreadingHTTPServer((host, port), Handler)


def main() -> int:
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if not secret:
        print("WEBHOOK_SECRET is not set", file=sys.stderr)
        return 2
    host, port = os.environ.get("HOST", "0.0.0.0"), int(os.environ.get("PORT", "8080"))
    server = make_server(host, port, secret)
    print(f"receiver listening on {host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
