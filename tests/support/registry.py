"""A Schema-Registry-compatible endpoint on loopback, just enough for reading:
``GET /schemas/ids/{id}`` → ``{"schema": "..."}`` (404 with error code 40403
for an unknown id), optional basic auth.  Independent of kafkahooks, as a
real registry is.  Also the Confluent wire format, for producing test records.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from fastavro.schema import expand_schema

# the password the loopback registry fixture expects (tests/integration/conftest.py)
REGISTRY_PASSWORD = "registry-pa55-word"


def wire_format(schema_id: int, body: bytes, magic: int = 0) -> bytes:
    """Confluent framing: magic byte, 4-byte big-endian schema id, Avro body."""
    return struct.pack(">bI", magic, schema_id) + body


def self_contained(parsed: Any) -> dict[str, Any]:
    """A parsed schema as one document, named types inlined: what a producer registers."""
    expanded = cast(dict[str, Any], expand_schema(parsed))
    return {k: v for k, v in expanded.items() if not k.startswith("__")}


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class RegistryServer:
    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.schemas: dict[int, str] = {}
        self.fetches: list[str] = []  # paths asked for, in order
        self.refused = 0  # requests without the right credentials
        self._auth = None
        if username is not None and password is not None:
            self._auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def register(self, schema: dict[str, Any] | str, schema_id: int | None = None) -> int:
        text = schema if isinstance(schema, str) else json.dumps(schema)
        with self._lock:
            new_id = schema_id if schema_id is not None else max(self.schemas, default=0) + 1
            self.schemas[new_id] = text
        return new_id

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if registry._auth and self.headers.get("authorization") != registry._auth:
                    registry.refused += 1
                    return self._reply(401, {"error_code": 401, "message": "Unauthorized"})
                path = self.path.split("?", 1)[0]
                with registry._lock:
                    registry.fetches.append(path)
                    parts = path.strip("/").split("/")
                    found = None
                    if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
                        found = registry.schemas.get(int(parts[2]))
                if found is None:
                    return self._reply(404, {"error_code": 40403, "message": "Schema not found"})
                self._reply(200, {"schema": found})

            def _reply(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/vnd.schemaregistry.v1+json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
