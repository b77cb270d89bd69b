"""Declarative payload templates, compiled once and rendered per event.

A template is any JSON-like structure.  String leaves may hold placeholders::

    status: "{{ value.data.status }}"          # exactly one placeholder: keeps the type
    summary: "call {{ key }} is {{ value.data.status }}"   # text: always a string

Placeholder roots: ``value.<path>``, ``key``, ``headers.<name>``, ``topic``,
``partition``, ``offset``, ``timestamp`` (ms), ``timestamp_iso``,
``event_id``, ``event_type``, ``attempt``, ``sent_at``, ``route``,
``payload_version``.  Path segments are separated by dots; a segment that
is a number also indexes a list; ``value["a.b"]`` quotes a key that contains
dots.

Compilation turns every path into a chain of plain lookups, so rendering
never runs an expression interpreter per event.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from kafkahooks.event import Event

__all__ = [
    "MISSING",
    "CompiledTemplate",
    "RenderContext",
    "TemplateError",
    "TemplateSyntaxError",
    "compile_path",
    "compile_template",
]

MissingPolicy = Literal["null", "omit", "fail"]


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


MISSING: Any = _Sentinel("MISSING")
_OMIT: Any = _Sentinel("OMIT")

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_WHOLE = re.compile(r"^\{\{\s*([^{}]*?)\s*\}\}$")
_SEGMENT = re.compile(r'\.([^.\[\]"]+)|\[(\d+)\]|\["([^"]*)"\]')
_ROOT = re.compile(r"^([a-z_]+)")


class TemplateSyntaxError(ValueError):
    """The template itself is wrong: reported at start-up with the field path."""


class TemplateError(ValueError):
    """Rendering failed for one event (a required field is missing)."""


@dataclass(slots=True)
class RenderContext:
    event: Event
    event_id: str
    route: str
    payload_version: str
    event_type: Any = None
    attempt: int = 1
    sent_at: float = 0.0


Getter = Callable[[RenderContext], Any]
Node = Callable[[RenderContext], Any]


def _iso(ms_or_s: float, *, millis: bool) -> str:
    seconds = ms_or_s / 1000 if millis else ms_or_s
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


@functools.lru_cache(maxsize=4096)  # events come in bursts that share a millisecond
def _iso_ms(ms: int) -> str:
    return _iso(ms, millis=True)


def _walk(keys: tuple[tuple[str, int | None], ...], missing: Any) -> Getter:
    def walk(ctx: RenderContext) -> Any:
        node = ctx.event.value
        for name, index in keys:
            if type(node) is dict:
                if name not in node:
                    return missing
                node = node[name]
            elif type(node) is list and index is not None:
                if not -len(node) <= index < len(node):
                    return missing
                node = node[index]
            else:
                return missing
        return node

    return walk


def _value_getter(keys: tuple[tuple[str, int | None], ...], missing: Any) -> Getter:
    if any(index is not None for _, index in keys):
        return _walk(keys, missing)
    # Names only (the common case): a tight loop of dict lookups.
    names = tuple(name for name, _ in keys)
    if len(names) == 1:
        name = names[0]

        def one(ctx: RenderContext) -> Any:
            value = ctx.event.value
            return value.get(name, missing) if type(value) is dict else missing

        return one

    def plain(ctx: RenderContext) -> Any:
        node = ctx.event.value
        for name in names:
            if type(node) is not dict:
                return missing
            node = node.get(name, missing)
        return node

    return plain


def _header_getter(name: str, missing: Any) -> Getter:
    def get(ctx: RenderContext) -> Any:
        found = ctx.event.header(name)
        return missing if found is None else found

    return get


def _key_getter(missing: Any) -> Getter:
    return lambda c: missing if c.event.key is None else c.event.key_str


def _event_type_getter(missing: Any) -> Getter:
    return lambda c: missing if c.event_type is None else c.event_type


# Roots that may be absent get a getter per stand-in value; the others never are.
_OPTIONAL: dict[str, Callable[[Any], Getter]] = {
    "key": _key_getter,
    "event_type": _event_type_getter,
}
_SIMPLE: dict[str, Getter] = {
    "key": _key_getter(MISSING),
    "topic": lambda c: c.event.topic,
    "partition": lambda c: c.event.partition,
    "offset": lambda c: c.event.offset,
    "timestamp": lambda c: c.event.timestamp,
    "timestamp_iso": lambda c: _iso_ms(c.event.timestamp),
    "event_id": lambda c: c.event_id,
    "event_type": _event_type_getter(MISSING),
    "route": lambda c: c.route,
    "payload_version": lambda c: c.payload_version,
    "attempt": lambda c: c.attempt,
    "sent_at": lambda c: _iso(c.sent_at, millis=False),
}
PER_ATTEMPT_ROOTS = frozenset({"attempt", "sent_at"})
# The roots of _SIMPLE that are never missing, as source for template_code.py:
# (expression, whether it is a str).  Same meaning as their getters above.
INLINE_ROOTS = {
    "topic": ("ctx.event.topic", True),
    "partition": ("ctx.event.partition", False),
    "offset": ("ctx.event.offset", False),
    "timestamp": ("ctx.event.timestamp", False),
    "timestamp_iso": ("_iso_ms(ctx.event.timestamp)", True),
    "event_id": ("ctx.event_id", True),
    "route": ("ctx.route", True),
    "payload_version": ("ctx.payload_version", True),
}
# The roots of _OPTIONAL as source: (absent when this is None, the value otherwise).
INLINE_OPTIONAL = {
    "key": ("ctx.event.key", "ctx.event.key_str"),
    "event_type": ("ctx.event_type", "ctx.event_type"),
}


def _parse_segments(rest: str, expr: str) -> tuple[tuple[str, int | None], ...]:
    keys: list[tuple[str, int | None]] = []
    pos = 0
    while pos < len(rest):
        match = _SEGMENT.match(rest, pos)
        if match is None:
            raise TemplateSyntaxError(f"cannot parse path {expr!r} at {rest[pos:]!r}")
        dotted, bracket, quoted = match.groups()
        name = dotted if dotted is not None else bracket if bracket is not None else quoted
        keys.append((name, int(name) if name.isdigit() else None))
        pos = match.end()
    return tuple(keys)


def compile_path(expr: str, missing: Any = MISSING) -> tuple[Getter, bool]:
    """Compile ``value.a.b`` (no braces) to a getter; also tell if it is per attempt.

    The getter returns ``missing`` where the event lacks the field.
    """
    expr = expr.strip()
    root_match = _ROOT.match(expr)
    if root_match is None:
        raise TemplateSyntaxError(f"placeholder {expr!r} must start with a root such as value.")
    root, rest = root_match.group(1), expr[root_match.end() :]
    if root == "value":
        return _value_getter(_parse_segments(rest, expr), missing), False
    if root == "headers":
        keys = _parse_segments(rest, expr)
        if len(keys) != 1:
            raise TemplateSyntaxError(f"{expr!r}: use headers.<name> with exactly one name")
        return _header_getter(keys[0][0], missing), False
    if root in _SIMPLE:
        if rest:
            raise TemplateSyntaxError(f"{expr!r}: {root} has no fields")
        getter = _OPTIONAL[root](missing) if root in _OPTIONAL else _SIMPLE[root]
        return getter, root in PER_ATTEMPT_ROOTS
    roots = ", ".join(["value.<path>", "headers.<name>", *sorted(_SIMPLE)])
    raise TemplateSyntaxError(f"unknown placeholder root {root!r} in {expr!r}; use one of {roots}")


def value_names(expr: str) -> tuple[str, ...] | None:
    """The names of a ``value.a.b`` path made of dict keys only, else None."""
    root = _ROOT.match(expr.strip())
    if root is None or root.group(1) != "value":
        return None
    try:
        keys = _parse_segments(expr.strip()[root.end() :], expr)
    except TemplateSyntaxError:
        return None
    if not keys or any(index is not None for _, index in keys):
        return None
    return tuple(name for name, _ in keys)


def _text(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:  # offsets, partitions: the common non-string case
        return str(value)
    if value is None or value is MISSING:
        return ""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _Compiler:
    def __init__(self, policy: MissingPolicy) -> None:
        self.policy = policy
        self.per_attempt = False

    def node(self, spec: Any, where: str) -> Node:
        if isinstance(spec, dict):
            return self._object(spec, where)
        if isinstance(spec, list):
            return self._list(spec, where)
        if isinstance(spec, str) and "{{" in spec:
            whole = _WHOLE.match(spec)
            return self._typed(whole.group(1), where) if whole else self._string(spec, where)

        def constant(_ctx: RenderContext) -> Any:
            return spec

        return constant

    def _getter(self, expr: str, where: str, missing: Any = MISSING) -> Getter:
        try:
            getter, per_attempt = compile_path(expr, missing)
        except TemplateSyntaxError as exc:
            raise TemplateSyntaxError(f"field {where or '<root>'}: {exc}") from None
        self.per_attempt |= per_attempt
        return getter

    def _typed(self, expr: str, where: str) -> Node:
        if self.policy != "fail":  # the getter returns the stand-in itself: no wrapper
            return self._getter(expr, where, None if self.policy == "null" else _OMIT)
        getter = self._getter(expr, where)
        on_missing = self._missing_value(expr, where)

        def typed(ctx: RenderContext) -> Any:
            value = getter(ctx)
            return on_missing() if value is MISSING else value

        return typed

    def _string(self, spec: str, where: str) -> Node:
        parts: list[str | Getter] = []
        pos = 0
        for match in _PLACEHOLDER.finditer(spec):
            parts.append(spec[pos : match.start()])
            parts.append(self._getter(match.group(1), where))
            pos = match.end()
        parts.append(spec[pos:])
        if "{{" in "".join(p for p in parts if isinstance(p, str)):
            raise TemplateSyntaxError(f"field {where}: unbalanced '{{{{' in {spec!r}")
        fail = self.policy == "fail"

        def text(ctx: RenderContext) -> str:
            out = []
            for part in parts:
                if isinstance(part, str):
                    out.append(part)
                    continue
                value = part(ctx)
                if value is MISSING and fail:
                    raise TemplateError(f"field {where}: {spec!r} has a missing source field")
                out.append(_text(value))
            return "".join(out)

        return text

    def _missing_value(self, expr: str, where: str) -> Callable[[], Any]:
        if self.policy == "null":
            return lambda: None
        if self.policy == "omit":
            return lambda: _OMIT

        def fail() -> Any:
            raise TemplateError(f"field {where}: source {expr!r} is missing in the event")

        return fail

    def _object(self, spec: dict[Any, Any], where: str) -> Node:
        items = [
            (str(k), self.node(v, f"{where}.{k}" if where else str(k))) for k, v in spec.items()
        ]

        def obj(ctx: RenderContext) -> dict[str, Any]:
            return {key: node(ctx) for key, node in items}

        if self.policy != "omit":  # only "omit" ever yields _OMIT
            return obj

        def obj_omitting(ctx: RenderContext) -> dict[str, Any]:
            out = obj(ctx)
            if any(value is _OMIT for value in out.values()):
                return {k: v for k, v in out.items() if v is not _OMIT}
            return out

        return obj_omitting

    def _list(self, spec: list[Any], where: str) -> Node:
        nodes = [self.node(v, f"{where}[{i}]") for i, v in enumerate(spec)]

        def seq(ctx: RenderContext) -> list[Any]:
            return [node(ctx) for node in nodes]

        if self.policy != "omit":
            return seq
        return lambda ctx: [v for v in seq(ctx) if v is not _OMIT]


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    root: Node
    per_attempt: bool  # uses attempt/sent_at, so every attempt renders anew

    def render(self, ctx: RenderContext) -> Any:
        value = self.root(ctx)
        return None if value is _OMIT else value


def compile_template(spec: Any, policy: MissingPolicy = "null") -> CompiledTemplate:
    from kafkahooks.templating.codegen import generate  # it builds on this module

    compiler = _Compiler(policy)  # compiles (and checks, naming the field) what is not inlined
    root = generate(spec, compiler, policy)
    return CompiledTemplate(root=root, per_attempt=compiler.per_attempt)
