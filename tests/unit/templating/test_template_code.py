"""Generated template functions render exactly what the closure tree renders."""

from __future__ import annotations

from typing import Any

import pytest

from kafkahooks.event import Event
from kafkahooks.templating.codegen import generate
from kafkahooks.templating.paths import OMIT
from kafkahooks.templating.templates import (
    RenderContext,
    TemplateError,
    _Compiler,
    compile_template,
)

TEMPLATES: list[Any] = [
    {
        "event": "{{ value.event }}",
        "callId": "{{ key }}",
        "seq": "{{ value.seq }}",
        "data": {"status": "{{ value.data.status }}", "endedAt": "{{ value.data.endedAt }}",
                 "deep": "{{ value.data.inner.x }}"},
        "meta": {"eventId": "{{ event_id }}", "source": "{{ topic }}/{{ partition }}@{{ offset }}",
                 "at": "{{ timestamp_iso }}", "ts": "{{ timestamp }}", "route": "{{ route }}",
                 "v": "{{ payload_version }}", "type": "{{ event_type }}"},
        "text": "call {{ key }} is {{ value.data.status }} ({{ value.missing }})",
        "mixed": "{{ value.data.status }}-{{ value.seq }}-{{ value.data }}",
        "list": ["{{ value.seq }}", "{{ value.absent }}", 1.5, None, True, "plain", {"a": 1}],
        "indexed": "{{ value.items.0 }}",
        "quoted": '{{ value["a.b"] }}',
        "header": "{{ headers.trace }}",
        "const": {"nested": [1, 2.25, {"x": "y"}]},
        "braces": "{not a placeholder} {{ value.event }}",
        "empty": {},
    },
    "{{ value.data.status }}",
    "{{ value }}",
    "{{ value.absent }}",
    ["{{ value.absent }}", "{{ value.seq }}"],
    "prefix {{ value.data.status }}",
    {"only": "{{ value.absent.deeper }}"},
]

VALUES: list[Any] = [
    {"event": "status-changed", "seq": 3, "data": {"status": "ringing", "endedAt": None,
     "inner": {"x": [1, 2]}}, "items": ["first", "second"], "a.b": "dotted"},
    {"event": "e", "data": "not a dict", "items": {"0": "keyed"}},
    {"data": {"inner": "leaf"}},
    ["a", "list"],
    "just text",
    None,
]


def _render(root: Any, ctx: RenderContext) -> Any:
    try:
        value = root(ctx)
    except TemplateError as exc:
        return ("error", str(exc))
    return None if value is OMIT else value


@pytest.mark.parametrize("policy", ["null", "omit", "fail"])
@pytest.mark.parametrize("spec", TEMPLATES)
def test_generated_code_renders_what_the_closures_render(policy: Any, spec: Any) -> None:
    reference = _Compiler(policy).node(spec, "")
    generated = generate(spec, _Compiler(policy), policy)
    for value in VALUES:
        for key, etype in ((b"call-1", "status-changed"), (None, None), (b"call-2", None)):
            event = Event("calls", 2, 41, 1_700_000_000_123, key, b"{}",
                          headers=[("trace", b"t-1")], value=value)
            ctx = RenderContext(event, "evt_1", "route-a", "2", event_type=etype)
            assert _render(generated, ctx) == _render(reference, ctx), (value, key, etype)


def test_compile_template_still_names_the_field_of_a_bad_placeholder() -> None:
    with pytest.raises(ValueError, match=r"field meta\.when"):
        compile_template({"meta": {"when": "{{ nowhere.at.all }}"}})
