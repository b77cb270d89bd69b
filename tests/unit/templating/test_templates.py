"""Declarative field templates: compile once, render per event."""

from __future__ import annotations

from typing import Any

import pytest

from kafkahooks.event import Event
from kafkahooks.templating.templates import (
    RenderContext,
    TemplateError,
    TemplateSyntaxError,
    compile_template,
)

VALUE: dict[str, Any] = {
    "event": "status-changed",
    "data": {
        "status": "ended",
        "duration": 42,
        "cost": 0.25,
        "recorded": True,
        "ended": None,
        "caller": {"name": "Zoë", "tags": ["vip"]},
        "legs": [{"id": "a"}, {"id": "b"}],
        "a.b": "dotted",
    },
}


def _event(value: Any = VALUE, key: bytes | None = b"call-7") -> Event:
    return Event(
        topic="calls.status",
        partition=3,
        offset=1234,
        timestamp=1_700_000_000_123,
        key=key,
        raw_value=b"{}",
        headers=[("trace-id", b"t-1"), ("Tenant", b"acme")],
        value=value,
    )


def _render(spec: Any, policy: Any = "null", *, value: Any = VALUE, **ctx: Any) -> Any:
    context = RenderContext(_event(value), "evt_abc", "calls", "v2", **ctx)
    return compile_template(spec, policy).render(context)


def test_single_placeholder_keeps_the_source_type() -> None:
    out = _render(
        {
            "n": "{{ value.data.duration }}",
            "f": "{{ value.data.cost }}",
            "b": "{{value.data.recorded}}",
            "z": "{{ value.data.ended }}",
            "o": "{{ value.data.caller }}",
            "l": "{{ value.data.legs }}",
        }
    )
    assert out == {
        "n": 42,
        "f": 0.25,
        "b": True,
        "z": None,
        "o": {"name": "Zoë", "tags": ["vip"]},
        "l": [{"id": "a"}, {"id": "b"}],
    }


def test_text_with_placeholders_is_always_a_string() -> None:
    out = _render(
        {
            "s": "call {{ key }} is {{ value.data.status }} after {{ value.data.duration }}s",
            "j": "caller={{ value.data.caller }} recorded={{ value.data.recorded }}",
            "pad": " {{ value.data.duration }}",
        }
    )
    assert out == {
        "s": "call call-7 is ended after 42s",
        "j": 'caller={"name":"Zoë","tags":["vip"]} recorded=true',
        "pad": " 42",
    }


def test_nested_objects_lists_and_literals() -> None:
    spec = {
        "kind": "call",
        "version": 3,
        "flags": [True, None],
        "data": {
            "status": "{{ value.data.status }}",
            "ids": ["{{ value.data.legs.1.id }}", "{{ value.data.legs[0].id }}"],
        },
        "tag": "{{ value.data.caller.tags.0 }}",
        "quoted": '{{ value.data["a.b"] }}',
        "last": "{{ value.data.legs.-1 }}",
    }
    assert _render(spec) == {
        "kind": "call",
        "version": 3,
        "flags": [True, None],
        "data": {"status": "ended", "ids": ["b", "a"]},
        "tag": "vip",
        "quoted": "dotted",
        "last": None,
    }


def test_template_may_be_a_list_or_a_single_value() -> None:
    assert _render(["{{ offset }}", "x"]) == [1234, "x"]
    assert _render("{{ value.data.duration }}") == 42


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("null", {"status": "ended", "gone": None, "deep": None, "text": "x= y", "items": [None]}),
        ("omit", {"status": "ended", "text": "x= y", "items": []}),
    ],
)
def test_missing_policy_null_and_omit(policy: str, expected: dict[str, Any]) -> None:
    spec = {
        "status": "{{ value.data.status }}",
        "gone": "{{ value.data.nothing }}",
        "deep": "{{ value.data.status.inner }}",
        "text": "x={{ value.nothing }} y",
        "items": ["{{ value.data.legs.9 }}"],
    }
    assert _render(spec, policy) == expected


def test_missing_policy_fail_names_the_field() -> None:
    template = compile_template({"data": {"gone": "{{ value.data.nothing }}"}}, "fail")
    with pytest.raises(TemplateError, match=r"field data\.gone: source 'value\.data\.nothing'"):
        template.render(RenderContext(_event(), "evt", "calls", "v1"))


def test_missing_policy_fail_in_text() -> None:
    template = compile_template({"s": "id {{ value.nope }}"}, "fail")
    with pytest.raises(TemplateError, match=r"field s:"):
        template.render(RenderContext(_event(), "evt", "calls", "v1"))


def test_a_present_null_is_not_missing() -> None:
    assert _render({"z": "{{ value.data.ended }}"}, "omit") == {"z": None}


def test_non_object_value_makes_value_paths_missing() -> None:
    assert _render({"s": "{{ value.status }}"}, "omit", value="plain text") == {}
    assert _render({"whole": "{{ value }}"}, value=[1, 2]) == {"whole": [1, 2]}


def test_kafka_and_delivery_roots() -> None:
    spec = {
        "key": "{{ key }}",
        "trace": "{{ headers.trace-id }}",
        "tenant": "{{ headers.tenant }}",  # header names are case-insensitive
        "topic": "{{ topic }}",
        "partition": "{{ partition }}",
        "offset": "{{ offset }}",
        "timestamp": "{{ timestamp }}",
        "timestamp_iso": "{{ timestamp_iso }}",
        "event_id": "{{ event_id }}",
        "event_type": "{{ event_type }}",
        "route": "{{ route }}",
        "version": "{{ payload_version }}",
        "attempt": "{{ attempt }}",
        "sent_at": "{{ sent_at }}",
    }
    out = _render(spec, event_type="status-changed", attempt=3, sent_at=1_700_000_100.5)
    assert out == {
        "key": "call-7",
        "trace": "t-1",
        "tenant": "acme",
        "topic": "calls.status",
        "partition": 3,
        "offset": 1234,
        "timestamp": 1_700_000_000_123,
        "timestamp_iso": "2023-11-14T22:13:20.123Z",
        "event_id": "evt_abc",
        "event_type": "status-changed",
        "route": "calls",
        "version": "v2",
        "attempt": 3,
        "sent_at": "2023-11-14T22:15:00.500Z",
    }


def test_absent_key_and_header_follow_the_missing_policy() -> None:
    template = compile_template({"k": "{{ key }}", "h": "{{ headers.absent }}"}, "omit")
    ctx = RenderContext(_event(key=None), "evt", "calls", "v1")
    assert template.render(ctx) == {}


@pytest.mark.parametrize(
    ("spec", "where", "why"),
    [
        ({"a": {"b": "{{ data.x }}"}}, "field a.b:", "unknown placeholder root 'data'"),
        ({"a": "{{ topic.name }}"}, "field a:", "topic has no fields"),
        ({"a": "{{ headers.x.y }}"}, "field a:", "exactly one name"),
        ({"a": ["ok", "{{ value..x }}"]}, r"field a[1]:", "cannot parse path"),
        ({"a": "x {{ value.b"}, "field a:", "unbalanced"),
        ({"a": "{{ 1 }}"}, "field a:", "must start with a root"),
    ],
)
def test_syntax_errors_name_the_field(spec: Any, where: str, why: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        compile_template(spec)
    assert where in str(caught.value)
    assert why in str(caught.value)


def test_per_attempt_flag() -> None:
    assert not compile_template({"a": "{{ value.x }}", "b": "{{ event_id }}"}).per_attempt
    assert compile_template({"a": {"b": "{{ attempt }}"}}).per_attempt
    assert compile_template(["sent {{ sent_at }}"]).per_attempt


def test_rendering_does_not_alias_constants_between_events() -> None:
    template = compile_template({"fixed": {"a": 1}, "s": "{{ value.event }}"})
    first = template.render(RenderContext(_event(), "e1", "calls", "v1"))
    second = template.render(RenderContext(_event(), "e2", "calls", "v1"))
    assert first == second == {"fixed": {"a": 1}, "s": "status-changed"}
