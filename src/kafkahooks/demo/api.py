"""The management API inside ``kafkahooks demo --endpoints``: the customers' view of it.

:func:`with_demo_api` gives the demo's routes file an ``api`` section with a fresh admin
token (its hash only; the token itself is printed, demo only) and a delivery-log topic,
so the bridge logs its attempts; :class:`DemoApi` serves ``kafkahooks api``'s app over
that file on a free loopback port in a thread of its own — the same start-up as the
command (the store and the delivery log read side by side) — and prints its URL, the
token and curl examples.
Invariant: loopback only; the admin token lives as long as the demo's broker (it is
never written to any file).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx

from kafkahooks.config import RoutesFile

__all__ = ["DELIVERY_LOG", "DemoApi", "with_demo_api"]

DELIVERY_LOG = "kafkahooks.deliveries"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def with_demo_api(config: RoutesFile) -> tuple[RoutesFile, str]:
    """``config`` with an ``api`` section (a new admin token, loopback) and a delivery
    log; the admin token."""
    from kafkahooks.api import new_token
    from kafkahooks.config import AdminToken, ApiConfig

    issued = new_token("demo")
    api = ApiConfig(
        listen=f"127.0.0.1:{_free_port()}",
        admin_tokens=[AdminToken(id=issued.id, sha256=issued.sha256)],
        audit_topic="kafkahooks.audit",
    )
    kafka = config.kafka.model_copy(update={"delivery_log_topic": DELIVERY_LOG})
    return config.model_copy(update={"api": api, "kafka": kafka}), issued.value


class DemoApi:
    """The API app over ``config`` (made by :func:`with_demo_api`), served in a thread."""

    def __init__(self, config: RoutesFile, token: str) -> None:
        import uvicorn

        from kafkahooks.api import (
            ApiContext,
            KafkaAudit,
            TokenTable,
            build_catalogue,
            create_app,
            load_api,
        )
        from kafkahooks.delivery import SystemResolver
        from kafkahooks.kafka import ensure_topics, producer_properties

        assert config.api is not None
        self.token = token
        self.url = f"http://{config.api.listen}"
        ensure_topics(producer_properties(config.kafka), [config.api.audit_topic, DELIVERY_LOG])
        self._store, self._attempts = load_api(config, TokenTable(config.api.admin_tokens))
        self._audit = KafkaAudit(producer_properties(config.kafka), config.api.audit_topic)
        ctx = ApiContext(
            config.api, config, self._store, self._audit, SystemResolver(),
            allow_local=True, catalogue=build_catalogue(config), attempts=self._attempts,
        )  # fmt: skip
        self._server = uvicorn.Server(
            uvicorn.Config(create_app(ctx), host=config.api.host, port=config.api.port,
                           log_config=None, access_log=False, lifespan="off")
        )  # fmt: skip
        self._thread = threading.Thread(target=self._server.run, name="demo-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.close()
                raise RuntimeError("the demo's API did not start")
            time.sleep(0.02)

    def print_intro(self, tenant: str) -> None:
        auth = f'-H "Authorization: Bearer {self.token}"'
        print(f"  management API: {self.url}   (docs: {self.url}/docs)")
        print(f"  admin token (demo only, shown once): {self.token}")
        print(f"  try: curl -s {auth} {self.url}/v1/tenants/{tenant}/endpoints")
        print(f"       curl -s {auth} {self.url}/v1/tenants/{tenant}/endpoints/ID/attempts",
              flush=True)  # fmt: skip

    def get(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        answer = httpx.get(self.url + path, headers=headers, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def close(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10)
        self._attempts.close()
        self._store.close()
        self._audit.close()
