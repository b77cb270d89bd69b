"""OAuth2 client credentials end to end: one token for many concurrent deliveries, a new
one after expiry, one refresh after a 401 (token endpoint and receiver on loopback)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.bridge import BridgeProcess, routes_file, simple_route, wait_until
from tests.support.kafka import committed, create_topic, produce, unique
from tests.support.receiver import Receiver, Reply, Request


class TokenEndpoint(Receiver):
    """Issues tok-1, tok-2, ...; the first expires after one second, the rest after an hour."""

    def __init__(self) -> None:
        self.issued_at: list[float] = []
        self._lock = threading.Lock()
        super().__init__(self._issue)

    def _issue(self, _: Request) -> Reply:
        with self._lock:
            self.issued_at.append(time.monotonic())
            n = len(self.issued_at)
        body = {"access_token": f"tok-{n}", "token_type": "Bearer",
                "expires_in": 1 if n == 1 else 3600}
        return Reply(200, body=json.dumps(body).encode())


def test_one_token_for_a_burst_a_new_one_after_expiry_and_one_refresh_after_a_401(
    bootstrap: str, receiver: Receiver, tmp_path: Path,
    start_bridge: Callable[..., BridgeProcess],
) -> None:
    tokens = TokenEndpoint()
    revoked: set[str] = set()

    def check_token(request: Request) -> Reply:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return Reply(401) if token in revoked else Reply(200, delay=0.02)

    receiver.behaviour = check_token
    topic, group = create_topic(bootstrap, unique("oauth"), 2), unique("g")
    route = simple_route("calls", topic, receiver.url, ordering="none", endpoint={
        "url": receiver.url, "timeout": 5,
        "auth": {"type": "oauth2", "token_url": tokens.url, "client_id": "kafkahooks",
                 "client_secret": "oauth-client-secret", "scope": "webhooks"},
    })
    bridge = start_bridge(routes_file(tmp_path / "r.yaml", bootstrap, group, [route]))

    def burst(phase: int) -> None:
        produce(bootstrap, topic, [(f"call-{phase}-{i}", {"event": "status-changed", "id": i,
                                                           "status": f"phase-{phase}"})
                                   for i in range(20)])
        wait_until(lambda: committed(bootstrap, group, topic, 2) and
                   sum(committed(bootstrap, group, topic, 2)) == 20 * phase, timeout=30)

    def tokens_seen(phase: int) -> list[str]:
        return [r.headers["authorization"] for r in receiver.requests
                if r.json()["status"] == f"phase-{phase}"]

    try:
        burst(1)  # twenty concurrent deliveries, one token request
        assert len(tokens.issued_at) == 1
        assert set(tokens_seen(1)) == {"Bearer tok-1"} and len(tokens_seen(1)) == 20

        time.sleep(max(0.0, tokens.issued_at[0] + 1.1 - time.monotonic()))  # tok-1 expires
        burst(2)
        assert len(tokens.issued_at) == 2
        assert set(tokens_seen(2)) == {"Bearer tok-2"}

        revoked.add("tok-2")  # the receiver stops accepting tok-2: one refresh for the burst
        burst(3)
        assert len(tokens.issued_at) == 3
        ok = [r for r in receiver.requests
              if r.json()["status"] == "phase-3" and getattr(r, "status", 0) == 200]
        assert len(ok) == 20 and {r.headers["authorization"] for r in ok} == {"Bearer tok-3"}
        assert bridge.terminate() == 0
    finally:
        tokens.close()
    assert "oauth-client-secret" not in bridge.output()
