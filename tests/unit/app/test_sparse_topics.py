"""Which topics get the window of tenant routes (unfinished events only)."""

from __future__ import annotations

from kafkahooks.app.bridge import sparse_topics
from kafkahooks.config import RouteConfig


def _route(name: str, topics: list[str], tenant: bool, **options: object) -> RouteConfig:
    doc: dict[str, object] = {"name": name, "topics": topics, "template": {"id": "{{ value.id }}"}}
    if tenant:
        doc["endpoints"] = {"tenant": "value.account"}
        doc["signing"] = {"scheme": "standard-webhooks"}
    else:
        doc["endpoint"] = {"url": "https://hooks.example.com/x"}
        doc["signing"] = {"secret": "unit-secret"}
    doc.update(options)
    return RouteConfig.model_validate(doc)


def test_topics_of_tenant_routes_and_their_retry_topics_only() -> None:
    routes = [
        _route("tenants", ["calls", "shared"], True, retry_topics={"delays": [5, 60]}),
        _route("fixed", ["orders", "shared"], False, retry_topics={"delays": [5]}),
    ]
    assert sparse_topics(routes) == {
        "calls",
        "shared",  # read by both kinds: a tenant's stuck event must not pause it
        "kafkahooks.retry.tenants.1",
        "kafkahooks.retry.tenants.2",
    }


def test_no_tenant_route_no_sparse_topic() -> None:
    assert sparse_topics([_route("fixed", ["orders"], False)]) == frozenset()
