"""Routes with ``endpoints: {tenant: <path>}`` and the ``endpoint_store`` section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from kafkahooks.app.checks import load_checked
from kafkahooks.config import ConfigError
from tests.support.tenants import routes_file

STORE = {"topic": "kafkahooks.endpoints", "encryption_keys": "k1:c2VjcmV0LWtleS1ieXRlcw=="}


def _route(**options: Any) -> dict[str, Any]:
    route: dict[str, Any] = {
        "name": "calls",
        "topics": ["calls.status"],
        "template": {"id": "{{ value.id }}"},
        "endpoints": {"tenant": "value.accountId"},
        "signing": {"scheme": "standard-webhooks"},
    }
    route.update(options)
    return {k: v for k, v in route.items() if v is not None}


def _error(routes: list[dict[str, Any]], **top: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        routes_file(routes, **top)
    return str(caught.value)


def test_a_tenant_route_loads_with_the_store_and_defaults() -> None:
    config = routes_file([_route()], endpoint_store=STORE)
    route = config.routes[0]
    assert route.endpoint is None
    assert route.endpoints is not None and route.endpoints.timeout == 15.0
    assert route.tenant_path == "value.accountId"
    assert config.endpoint_store is not None
    assert config.endpoint_store.max_endpoints_per_tenant == 50


def test_endpoint_and_endpoints_together_or_neither_name_both() -> None:
    both = _error([_route(endpoint={"url": "https://example.test/hook"})], endpoint_store=STORE)
    assert "exactly one of 'endpoint'" in both and "'endpoints'" in both
    neither = _error([_route(endpoints=None, signing=None)])
    assert "exactly one of 'endpoint'" in neither


def test_a_tenant_route_takes_no_signing_secret_of_its_own() -> None:
    message = _error(
        [_route(signing={"scheme": "standard-webhooks", "secret": "whsec_c2VjcmV0"})],
        endpoint_store=STORE,
    )
    assert "every endpoint has its own secrets" in message


def test_a_fixed_endpoint_with_signing_still_needs_a_secret() -> None:
    message = _error([_route(endpoints=None, endpoint={"url": "https://example.test/hook"})])
    assert "signing needs a secret" in message


def test_batch_with_endpoints_is_refused_at_load() -> None:
    message = _error([_route(batch={"max_events": 10})], endpoint_store=STORE)
    assert "batching with 'endpoints'" in message and "not supported yet" in message


def test_a_tenant_route_needs_the_endpoint_store_section() -> None:
    message = _error([_route()])
    assert "endpoint_store" in message and "calls" in message


def test_the_store_keys_are_never_printed() -> None:
    config = routes_file([_route()], endpoint_store=STORE)
    shown = repr(config) + str(config.endpoint_store)
    assert "c2VjcmV0LWtleS1ieXRlcw" not in shown


def test_empty_store_keys_are_refused() -> None:
    message = _error([_route()], endpoint_store={**STORE, "encryption_keys": " "})
    assert "no encryption key" in message


def test_the_tenant_path_is_checked_like_every_placeholder(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "kafka: {bootstrap_servers: 127.0.0.1:9092}\n"
        "endpoint_store: {topic: kafkahooks.endpoints, encryption_keys: k}\n"
        "routes:\n"
        "  - name: calls\n"
        "    topics: [calls.status]\n"
        "    template: {id: '{{ value.id }}'}\n"
        "    endpoints: {tenant: account.id}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_checked(path)
    assert "route 'calls' → endpoints.tenant" in str(caught.value)
    assert "unknown placeholder root 'account'" in str(caught.value)


def test_a_tenant_route_parks_on_a_schedule_spanning_days_unless_it_says_otherwise() -> None:
    route = routes_file([_route()], endpoint_store=STORE).routes[0]
    assert route.retry_topics is not None
    assert route.retry_topics.delays == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert route.endpoints is not None and route.endpoints.endpoint_queue == 100
    own = routes_file([_route(retry_topics={"delays": [5, 30]})], endpoint_store=STORE)
    assert own.routes[0].retry_topics is not None and own.routes[0].retry_topics.delays == [5, 30]
    raw = _route()
    raw["retry_topics"] = None  # parking off: endpoints then make events wait in process
    assert routes_file([raw], endpoint_store=STORE).routes[0].retry_topics is None
