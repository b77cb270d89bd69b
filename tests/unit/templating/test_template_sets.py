"""Payload shapes, per-type templates, per-event headers and filters of a compiled route."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

import pytest

from kafkahooks.config import parse_config
from kafkahooks.config.models import pick_route
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.route import Route, RouteTable, compile_route
from kafkahooks.event import Event
from kafkahooks.templating.templates import TemplateError

SECRET = "body-bytes-secret"
CALL: dict[str, Any] = {
    "event": "status-changed", "callId": "c-1", "team": "sales",
    "data": {"status": "ended", "phoneNumber": "+61 2 9000 0001", "note": "a&b <c>"},
    "metadata": {"crmId": "CRM-1", "channel": "web"},
    "notificationHeaders": {"X-Origin-Channel": "web", "x-unlisted": "no"},
}


def _route(endpoint: str, extra: str = "", template: str = "") -> Route:
    text = f"""
kafka: {{bootstrap_servers: "localhost:9092"}}
routes:
  - name: r
    topics: [calls]
    template: {template or '{uniqueid: "{{ value.callId }}", status: "{{ value.data.status }}", '
                            'metadata: "{{ value.metadata }}", note: "{{ value.data.note }}"}'}
    endpoint: {endpoint}
    signing: {{secret: {SECRET}}}
{extra}
"""
    return compile_route(parse_config(text, "r.yaml", {}).routes[0])


def _event(value: dict[str, Any] = CALL, headers: list[tuple[str, Any]] | None = None) -> Event:
    return Event("calls", 0, 7, 1_700_000_000_000, b"c-1", b"{}", headers or [], value)


def _request(route: Route, event: Event | None = None) -> OutboundRequest:
    event = event or _event()
    taken, etype = route.match(event)
    assert taken
    ctx = route.context(event, etype)
    return route.build(ctx, route.render_body(ctx), 1_700_000_000)


def _sig(content: bytes) -> str:
    return hmac.new(SECRET.encode(), content, hashlib.sha256).hexdigest()


def test_form_body_flattens_nested_maps_and_signs_the_bytes_sent() -> None:
    request = _request(_route('{url: "https://h.test/x", format: form}'))
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(request.body.decode())) == {
        "uniqueid": "c-1", "status": "ended", "metadata[crmId]": "CRM-1",
        "metadata[channel]": "web", "note": "a&b <c>",
    }
    assert request.headers["x-signature"] == _sig(request.body)


def test_xml_body_escapes_text_and_nests_maps() -> None:
    request = _route('{url: "https://h.test/x", format: xml, xml_root: call}')
    sent = _request(request)
    assert sent.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(sent.body)
    assert root.tag == "call"
    assert root.findtext("uniqueid") == "c-1"
    assert root.findtext("note") == "a&b <c>"
    assert root.findtext("metadata/crmId") == "CRM-1"
    assert sent.headers["x-signature"] == _sig(sent.body)


def test_get_sends_the_template_as_query_and_signs_the_query_string() -> None:
    sent = _request(_route('{url: "https://h.test/x?fixed=1", method: GET}'))
    assert sent.body == b""
    assert "content-type" not in sent.headers
    base, query = sent.url.split("?", 1)
    assert base == "https://h.test/x"
    signed = query.removeprefix("fixed=1&")
    assert dict(parse_qsl(signed))["uniqueid"] == "c-1"
    assert sent.headers["x-signature"] == _sig(signed.encode())


def test_form_needs_a_mapping_template() -> None:
    with pytest.raises(Exception, match="need a template that is a mapping"):
        _route('{url: "https://h.test/x", format: form}', template='["{{ key }}"]')


def test_xml_refuses_a_key_that_is_no_element_name() -> None:
    route = _route('{url: "https://h.test/x", format: xml}', template='{m: "{{ value.metadata }}"}')
    bad = _event({**CALL, "metadata": {"1bad name": "x"}})
    ctx = route.context(bad, "status-changed")
    with pytest.raises(TemplateError):
        route.render_body(ctx)


def test_per_event_type_templates_pick_fields_and_skip_unlisted_types() -> None:
    route = _route('{url: "https://h.test/x"}', extra="""
    event_type: value.data.status
    templates:
      ended: {event: call.completed, reason: "{{ value.data.note }}"}
""", template='{event: "call.{{ value.data.status }}"}')
    assert _request(route).body == b'{"event":"call.completed","reason":"a&b <c>"}'
    ringing = _event({**CALL, "data": {"status": "ringing"}})
    assert _request(route, ringing).body == b'{"event":"call.ringing"}'
    only_typed = _route('{url: "https://h.test/x"}', extra="""
    event_type: value.data.status
    templates:
      ended: {event: call.completed}
""", template="null")
    assert only_typed.match(ringing)[0] is False
    assert only_typed.match(_event())[0] is True


def test_dynamic_and_forwarded_headers_go_through_an_allow_list() -> None:
    route = _route('''{url: "https://h.test/x",
        headers: {x-static: fixed, x-channel: configured-wins},
        dynamic_headers: {x-uniqueid: "{{ value.callId }}", x-absent: "{{ value.nope }}"},
        forward_headers: {source: value.notificationHeaders, allow: [x-origin-channel]}}''')
    headers = _request(route).headers
    assert headers["x-uniqueid"] == "c-1"
    assert headers["x-origin-channel"] == "web"
    assert "x-unlisted" not in headers and "x-absent" not in headers
    assert headers["x-static"] == "fixed"
    kafka = _route('''{url: "https://h.test/x", headers: {x-channel: configured-wins},
        forward_headers: {source: headers, allow: [x-channel, x-tenant]}}''')
    sent = _request(kafka, _event(headers=[("X-Tenant", b"acme"), ("x-channel", b"sneaky"),
                                           ("x-other", b"no")]))
    assert sent.headers["x-tenant"] == "acme"
    assert sent.headers["x-channel"] == "configured-wins"  # configured headers win
    assert "x-other" not in sent.headers


def test_a_header_value_with_a_line_break_fails_that_event() -> None:
    route = _route('{url: "https://h.test/x", dynamic_headers: {x-note: "{{ value.data.note }}"}}')
    evil = _event({**CALL, "data": {"status": "ended", "note": "ok\r\nx-injected: 1"}})
    with pytest.raises(TemplateError, match="control character"):
        _request(route, evil)


def test_signature_and_auth_headers_cannot_be_set_per_event() -> None:
    with pytest.raises(Exception, match="cannot be set per event"):
        _route('{url: "https://h.test/x", dynamic_headers: {Authorization: "{{ key }}"}}')
    with pytest.raises(Exception, match="cannot be forwarded"):
        _route('{url: "https://h.test/x", forward_headers: {allow: [content-type]}}')


@pytest.mark.parametrize(("predicate", "taken"), [
    ("{field: value.team, in: [sales, support]}", True),
    ("{field: value.team, in: [support]}", False),
    ("{field: value.data.status, equals: ended}", True),
    ("{field: value.data.status, not_equals: ended}", False),
    ("{field: value.data.status, not_in: [queued, ringing]}", True),
    ("{field: value.data.endedAt, exists: false}", True),
    ("{field: value.data.endedAt, exists: true}", False),
    ("{field: headers.tenant, equals: acme}", False),
    ("{field: value.missing, not_equals: x}", True),
])
def test_filter_predicates(predicate: str, taken: bool) -> None:
    route = _route('{url: "https://h.test/x"}', extra=f"    filter: [{predicate}]")
    assert route.match(_event())[0] is taken


def test_predicates_compare_types_strictly() -> None:
    route = _route('{url: "https://h.test/x"}', extra="    filter: [{field: value.n, equals: 1}]")
    assert route.match(_event({**CALL, "n": 1}))[0]
    assert not route.match(_event({**CALL, "n": "1"}))[0]
    assert not route.match(_event({**CALL, "n": True}))[0]


def test_a_predicate_needs_exactly_one_test() -> None:
    with pytest.raises(Exception, match="exactly one of"):
        _route('{url: "https://h.test/x"}',
               extra="    filter: [{field: value.team, equals: a, in: [b]}]")


def test_inactive_routes_are_not_compiled_and_get_nothing() -> None:
    text = """
kafka: {bootstrap_servers: "localhost:9092"}
routes:
  - {name: live, topics: [calls], template: {a: 1}, endpoint: {url: "https://h.test/"}}
  - {name: idle, active: false, topics: [calls, other], template: {a: 1},
     endpoint: {url: "https://h.test/"}}
"""
    table = RouteTable(parse_config(text, "r.yaml", {}).routes)
    assert [r.name for r in table.routes] == ["live"]
    assert table.topics == ["calls"]
    with pytest.raises(LookupError, match=r"no route 'idle' \(routes: live\)"):
        pick_route(table.routes, "idle")


def test_a_forwarded_header_reads_as_a_header_placeholder_does() -> None:
    """Kafka header bytes become text in one way (``event.header_text``): undecodable
    bytes replaced, names compared in any case, the last of repeated headers wins."""
    route = _route(
        '{url: "https://h.test/x", forward_headers: {source: headers, allow: [x-note]}}',
        template='{note: "{{ headers.x-note }}"}',
    )
    event = _event(headers=[("x-note", b"first"), ("X-Note", b"caf\xc3\xa9 \xff"), ("x-z", None)])
    sent = _request(route, event)
    assert sent.headers["x-note"] == "café \ufffd"
    assert json.loads(sent.body) == {"note": "café \ufffd"}
