"""Issue 11, sections 6 (first bullet) and 7: what a routes file may not say, and what no
``repr``, log label or printed URL may show.

Each refusal happens at load (``check`` and ``run``), names file, route and field, and
never repeats a secret.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kafkahooks.config import ConfigError, parse_config
from kafkahooks.config.endpoint import EndpointConfig
from kafkahooks.config.models import KafkaConfig
from kafkahooks.config.urls import shown_url
from kafkahooks.delivery.gates import origin_of
from kafkahooks.delivery.route import compile_route
from kafkahooks.event import Event

PASSWORD = "pa55-w0rd-91c"


def _file(endpoint: dict[str, Any], **route: Any) -> str:
    return yaml.safe_dump(
        {
            "kafka": {"bootstrap_servers": "localhost:9092"},
            "routes": [
                {
                    "name": "calls",
                    "topics": ["t"],
                    "template": {"a": 1},
                    "endpoint": endpoint,
                    **route,
                }
            ],
        }
    )


def _problems(endpoint: dict[str, Any], env: dict[str, str] | None = None, **route: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(_file(endpoint, **route), "routes.yaml", env or {})
    return str(caught.value)


# -- section 6: no userinfo in a URL ---------------------------------------------------------


def test_userinfo_in_an_endpoint_url_is_refused_without_repeating_it() -> None:
    message = _problems({"url": f"https://hooks:{PASSWORD}@hooks.example.test/x"})
    assert "routes.yaml: route 'calls' → endpoint.url: must not hold user:password@" in message
    assert PASSWORD not in message


def test_userinfo_in_a_token_url_is_refused() -> None:
    message = _problems(
        {
            "url": "https://hooks.example.test/x",
            "auth": {
                "type": "oauth2",
                "token_url": f"https://id:{PASSWORD}@auth.example.test/token",
                "client_id": "c",
                "client_secret": "s",
            },
        }
    )
    assert "route 'calls' → endpoint.auth.oauth2.token_url: must not hold user:password@" in message
    assert PASSWORD not in message


def test_origins_for_labels_and_logs_are_scheme_host_and_port_only() -> None:
    assert (
        origin_of(f"https://u:{PASSWORD}@Hooks.Example.test/x?k=v") == "https://hooks.example.test"
    )
    assert origin_of("https://hooks.example.test:443/a") == "https://hooks.example.test"
    assert origin_of("http://[::1]:8080/a") == "http://[::1]:8080"


# -- section 7 -------------------------------------------------------------------------------


def test_a_fragment_is_refused_at_load() -> None:
    message = _problems({"url": "https://hooks.example.test/x#frag", "method": "GET"})
    assert "route 'calls' → endpoint.url: must not hold a #fragment" in message


@pytest.mark.parametrize("field", ["headers", "secret_headers", "dynamic_headers"])
def test_a_header_name_with_a_trailing_line_feed_is_refused(field: str) -> None:
    value = "v" if field != "dynamic_headers" else "{{ key }}"
    message = _problems({"url": "https://hooks.example.test/x", field: {"x-team\n": value}})
    assert (
        f"route 'calls' → endpoint.{field}: 'x-team\\n' is not a valid HTTP header name" in message
    )


def test_forwarded_header_names_with_a_trailing_line_feed_are_refused() -> None:
    message = _problems(
        {"url": "https://hooks.example.test/x", "forward_headers": {"allow": ["x-note\n"]}}
    )
    assert "'x-note\\n' is not a valid HTTP header name" in message


@pytest.mark.parametrize("value", ["a\r\nx-evil: 1", "a\nb", "a\x00b", "a\x1b[31m"])
@pytest.mark.parametrize("field", ["headers", "secret_headers"])
def test_a_static_header_value_with_a_control_character_is_refused_at_load(
    field: str, value: str
) -> None:
    message = _problems(
        {"url": "https://hooks.example.test/x", field: {"x-key": f"{PASSWORD}{value}"}}
    )
    assert (
        f"route 'calls' → endpoint.{field}: header x-key: the value holds a line break" in message
    )
    assert PASSWORD not in message


def test_a_secret_from_undecodable_environment_bytes_is_refused_at_load() -> None:
    env = {"KEY": "k\udcff"}  # what os.environ holds for the byte 0xff
    message = _problems(
        {"url": "https://hooks.example.test/x", "secret_headers": {"x-key": "${KEY}"}}, env
    )
    assert "route 'calls' → endpoint.secret_headers: header x-key" in message


def test_a_bearer_token_with_a_line_break_is_refused_at_load() -> None:
    message = _problems(
        {
            "url": "https://hooks.example.test/x",
            "auth": {"type": "bearer", "token": f"{PASSWORD}\r\nx-evil: 1"},
        }
    )
    assert "endpoint.auth.bearer.token" in message and "line break" in message
    assert PASSWORD not in message


@pytest.mark.parametrize(
    "name",
    [
        "Webhook-Id",
        "WEBHOOK-TIMESTAMP",
        "Webhook-Signature",
        "Content-Type",
        "Authorization",
        "Host",
        "Content-Length",
        "Transfer-Encoding",
        "User-Agent",
        "webhook-batch-size",
    ],
)
def test_reserved_names_cannot_be_set_per_event_in_any_case(name: str) -> None:
    dynamic = _problems(
        {"url": "https://hooks.example.test/x", "dynamic_headers": {name: "{{ key }}"}}
    )
    assert "cannot be set per event" in dynamic
    forwarded = _problems(
        {"url": "https://hooks.example.test/x", "forward_headers": {"allow": [name]}}
    )
    assert "cannot be forwarded from events" in forwarded


def test_the_signature_header_cannot_be_set_per_event_or_statically_in_any_case() -> None:
    signing = {"secret": "s3cret", "header": "X-Signature"}
    per_event = _problems(
        {"url": "https://hooks.example.test/x", "forward_headers": {"allow": ["x-signature"]}},
        signing=signing,
    )
    assert "['x-signature'] are the signature's headers; they cannot be set per event" in per_event
    static = _problems(
        {"url": "https://hooks.example.test/x", "headers": {"x-SIGNATURE": "forged"}},
        signing=signing,
    )
    assert "they cannot be set statically" in static


def test_webhook_id_cannot_be_a_static_header() -> None:
    message = _problems({"url": "https://hooks.example.test/x", "headers": {"Webhook-Id": "x"}})
    assert "['webhook-id'] are set by kafkahooks" in message


def test_a_header_in_both_headers_and_secret_headers_is_refused_in_any_case() -> None:
    endpoint = {"url": "https://hooks.example.test/x", "headers": {"X-Key": "a"},
                "secret_headers": {"x-key": "b"}}
    assert "a header is in both headers and secret_headers" in _problems(endpoint)
    endpoint = {"url": "https://hooks.example.test/x", "headers": {"Authorization": "a"},
                "auth": {"type": "bearer", "token": "t"}}
    assert "authorization is set both by auth and by a header" in _problems(endpoint)


def _route(endpoint: dict[str, Any], **extra: Any) -> Any:
    config = parse_config(_file(endpoint, **extra), "routes.yaml", {"TOKEN": PASSWORD})
    return compile_route(config.routes[0])


def test_an_event_cannot_send_its_own_webhook_id_or_shadow_a_static_header() -> None:
    route = _route(
        {
            "url": "https://hooks.example.test/x",
            "headers": {"X-Team": "voice"},
            "forward_headers": {"allow": ["x-team", "x-note"]},
        },
        signing={"secret": "s3cret"},
    )
    event = Event(
        "t",
        0,
        0,
        0,
        b"k",
        b"{}",
        value={},
        headers=[("Webhook-Id", b"evt_forged"), ("x-team", b"forged"), ("x-note", b"ok")],
    )
    ctx = route.context(event, None)
    headers = route.build(ctx, b"{}", 0).headers
    lowered = [name.lower() for name in headers]
    assert len(lowered) == len(set(lowered))  # every name once
    assert headers["webhook-id"] == ctx.event_id
    assert headers["X-Team"] == "voice" and headers["x-note"] == "ok"


def test_a_static_content_type_replaces_kafkahooks_own() -> None:
    route = _route(
        {
            "url": "https://hooks.example.test/x",
            "headers": {"Content-Type": "application/vnd.calls+json"},
        }
    )
    ctx = route.context(Event("t", 0, 0, 0, b"k", b"{}", value={}), None)
    headers = route.build(ctx, b"{}", 0).headers
    assert [k for k in headers if k.lower() == "content-type"] == ["content-type"]
    assert headers["content-type"] == "application/vnd.calls+json"


# -- secrets in repr -------------------------------------------------------------------------


def test_no_repr_shows_a_secret_header_authorization_or_a_url_token() -> None:
    route = _route(
        {
            "url": "https://hooks.example.test/hooks/${TOKEN}?sig=" + PASSWORD[::-1],
            "headers": {"authorization": f"Bearer {PASSWORD}-static"},
            "secret_headers": {"x-api-key": f"{PASSWORD}-header"},
        }
    )
    ctx = route.context(Event("t", 0, 0, 0, b"k", b"{}", value={}), None)
    request = route.build(ctx, b"{}", 0)
    request.headers["authorization"] = f"Bearer {PASSWORD}-token"
    for shown in (
        repr(route),
        repr(route.config),
        str(route.config),
        repr(route.config.endpoint),
        repr(request),
    ):
        assert PASSWORD not in shown and PASSWORD[::-1] not in shown, shown
    assert "hooks.example.test" in repr(request) and "webhook-id" in repr(request)


def test_oauth2_token_url_and_provider_reprs_hide_secrets() -> None:
    route = _route(
        {
            "url": "https://hooks.example.test/x",
            "auth": {
                "type": "oauth2",
                "token_url": f"https://auth.example.test/t?key={PASSWORD}",
                "client_id": "c",
                "client_secret": PASSWORD,
                "extra_params": {"k": PASSWORD},
            },
        }
    )
    assert PASSWORD not in repr(route.config) and PASSWORD not in repr(route.auth)


@pytest.mark.parametrize(
    "name",
    [
        "sasl.password",
        "ssl.key.password",
        "ssl.keystore.password",
        "sasl.oauthbearer.client.secret",
        "ssl.key.pem",
    ],
)
def test_credential_like_kafka_properties_are_secret_yet_reach_librdkafka(name: str) -> None:
    config = KafkaConfig.model_validate(
        {
            "bootstrap_servers": "b:9092",
            "properties": {name: PASSWORD, "session.timeout.ms": 6000},
            "dead_letter_properties": {name: PASSWORD},
        }
    )
    assert PASSWORD not in repr(config) and PASSWORD not in str(config)
    assert config.properties == {name: PASSWORD, "session.timeout.ms": 6000}
    assert config.dead_letter_properties == {name: PASSWORD}


# -- printed URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "env", "shown"),
    [
        (
            "https://hooks.example.test/calls?team=voice",
            {},
            "https://hooks.example.test/calls?team=********",
        ),
        (
            "${URL}",
            {"URL": "https://hooks.slack.test/services/T1/B2/xyz"},
            "https://hooks.slack.test/********/********/********/********",
        ),
        (
            "https://hooks.slack.test/services/${TOKEN}/end",
            {"TOKEN": "T1/B2/xyz"},
            "https://hooks.slack.test/services/********/********/********/end",
        ),
        (
            "https://h.test:8443/a${TOKEN}b/c?k=${TOKEN}&flag",
            {"TOKEN": "tok"},
            "https://h.test:8443/********/c?k=********&flag",
        ),
    ],
)
def test_printed_urls_mask_query_values_and_what_came_from_variables(
    url: str, env: dict[str, str], shown: str
) -> None:
    config = parse_config(_file({"url": url}), "routes.yaml", env)
    assert config.routes[0].endpoint.shown_url == shown


def test_a_url_of_unknown_origin_is_printed_with_every_path_segment_masked() -> None:
    endpoint = EndpointConfig.model_validate({"url": "https://h.test/services/T1?x=1"})
    assert endpoint.shown_url == "https://h.test/********/********?x=********"
    assert shown_url("https://h.test") == "https://h.test"


def test_a_get_routes_payload_query_is_shown_after_the_masked_url() -> None:
    config = parse_config(
        _file({"url": "https://h.test/q/${TOKEN}?key=k", "method": "GET"}),
        "routes.yaml",
        {"TOKEN": PASSWORD},
    )
    route = compile_route(config.routes[0])
    ctx = route.context(Event("t", 0, 0, 0, b"k", b"{}", value={}), None)
    request = route.build(ctx, route.render_body(ctx), 0)
    assert route.config.endpoint.shown(request.url) == "https://h.test/q/********?key=********&a=1"
