"""Throughput options in a routes file: retry-topic names, and what cannot be combined."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kafkahooks.config import ConfigError, parse_config
from kafkahooks.config.throughput import RetryTopicsConfig

ROUTES = """
kafka: {bootstrap_servers: 127.0.0.1:9}
routes:
  - name: calls
    topics: [calls]
    template: {id: "{{ key }}"}
    endpoint: {url: "https://hooks.example.test/"}
"""


def _with(route_options: str) -> str:
    return ROUTES + "".join(f"    {line}\n" for line in route_options.strip().splitlines())


def test_retry_topics_are_named_after_the_route_and_tier_by_default() -> None:
    config = parse_config(_with("retry_topics: {delays: [60, 600, 3600]}"), "routes.yaml")
    retry = config.routes[0].retry_topics
    assert retry is not None
    assert [retry.topic("calls", tier) for tier in range(3)] == [
        "kafkahooks.retry.calls.0",
        "kafkahooks.retry.calls.1",
        "kafkahooks.retry.calls.2",
    ]


def test_a_prefix_replaces_the_default_retry_topic_name() -> None:
    retry = RetryTopicsConfig(delays=[5], prefix="team-a.calls.retry")
    assert retry.topic("calls", 0) == "team-a.calls.retry.0"


def test_retry_topics_need_at_least_one_delay() -> None:
    with pytest.raises(ValidationError):
        RetryTopicsConfig(delays=[])


def test_batch_and_retry_topics_together_are_refused_with_the_route_named() -> None:
    text = _with("batch: {max_events: 50}\nretry_topics: {delays: [60]}")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "routes.yaml")
    assert str(caught.value) == (
        "routes.yaml: route 'calls' → (route): "
        "retry_topics parks single events; it cannot be used with batch"
    )


def test_batch_alone_and_retry_topics_alone_are_accepted() -> None:
    batched = parse_config(_with("batch: {max_events: 50, max_wait_ms: 20}"), "routes.yaml")
    batch = batched.routes[0].batch
    assert batch is not None and (batch.max_events, batch.max_wait_ms) == (50, 20)
    assert parse_config(_with("retry_topics: {delays: [1]}"), "r.yaml").routes[0].batch is None
