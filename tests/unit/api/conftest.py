"""The API over an in-memory store and audit trail, through FastAPI's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from kafkahooks.api import ApiContext, create_app, new_token
from tests.support.api import (
    PUBLIC,
    MemoryAudit,
    MemoryStore,
    NameResolver,
    admin_config,
    memory_context,
    routes_file,
)

URL = "https://hooks.acme.example/in?key=p4th-s3cret"


@dataclass
class Api:
    ctx: ApiContext
    store: MemoryStore
    audit: MemoryAudit
    resolver: NameResolver
    admin_token: str
    http: TestClient

    def client(self, token: str | None) -> TestClient:
        client = TestClient(self.http.app)
        if token is not None:
            client.headers["Authorization"] = f"Bearer {token}"
        return client

    @property
    def admin(self) -> TestClient:
        return self.client(self.admin_token)

    def tenant_token(self, tenant: str, **body: object) -> str:
        answer = self.admin.post(f"/v1/tenants/{tenant}/tokens", json=body)
        assert answer.status_code == 201, answer.text
        token: str = answer.json()["token"]
        return token

    def create(self, client: TestClient, tenant: str | None = None, **spec: object) -> dict:  # type: ignore[type-arg]
        path = f"/v1/tenants/{tenant}/endpoints" if tenant else "/v1/endpoints"
        answer = client.post(path, json={"url": URL, **spec})
        assert answer.status_code == 201, answer.text
        result: dict = answer.json()  # type: ignore[type-arg]
        return result


@pytest.fixture
def api() -> Iterator[Api]:
    admin = new_token("admin1")
    config = routes_file(**admin_config(admin.id, admin.sha256, write_burst=1000))
    resolver = NameResolver({"hooks.acme.example": [PUBLIC], "other.acme.example": [PUBLIC]})
    ctx, store, audit = memory_context(config, resolver)
    with TestClient(create_app(ctx)) as http:
        yield Api(ctx, store, audit, resolver, admin.value, http)
