"""Placeholder paths: what ``{{ ... }}`` may name, and what each name means.

Placeholder roots: ``value.<path>``, ``key``, ``headers.<name>``, ``topic``,
``partition``, ``offset``, ``timestamp`` (ms), ``timestamp_iso``,
``event_id``, ``event_type``, ``attempt``, ``sent_at``, ``route``,
``payload_version``.  Path segments are separated by dots; a segment that
is a number also indexes a list; ``value["a.b"]`` quotes a key that contains
dots.

Invariant: each root's meaning is written once, in :data:`ROOTS`, as Python
source over the render context.  The getters :func:`compile_path` returns are
made from that source, and the code generator (``codegen.py``) inlines the
same source, so the closure compiler and the generated function cannot
disagree.  The modules build one way: ``templates`` → ``codegen`` → ``paths``.
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
    "OMIT",
    "PLACEHOLDER",
    "ROOTS",
    "ROOT_HELPERS",
    "WHOLE",
    "Getter",
    "MissingPolicy",
    "Node",
    "RenderContext",
    "Root",
    "TemplateError",
    "TemplateSyntaxError",
    "compile_path",
    "text_of",
    "value_names",
]

MissingPolicy = Literal["null", "omit", "fail"]


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


MISSING: Any = _Sentinel("MISSING")  # the event has no such field
OMIT: Any = _Sentinel("OMIT")  # policy "omit": leave the field out of its container

PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
WHOLE = re.compile(r"^\{\{\s*([^{}]*?)\s*\}\}$")  # a string that is one placeholder
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
    endpoint_id: str | None = None  # a customer endpoint's delivery (``endpoints:`` routes)


Getter = Callable[[RenderContext], Any]
Node = Callable[[RenderContext], Any]


def _iso(ms_or_s: float, *, millis: bool) -> str:
    seconds = ms_or_s / 1000 if millis else ms_or_s
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


@functools.lru_cache(maxsize=4096)  # events come in bursts that share a millisecond
def _iso_ms(ms: int) -> str:
    return _iso(ms, millis=True)


@dataclass(frozen=True, slots=True)
class Root:
    """One root's meaning, as a Python expression over ``ctx`` (a :class:`RenderContext`)."""

    code: str  # the value
    text: bool = False  # the value is always a str
    absent_if_none: str | None = None  # the root has no value where this is None
    per_attempt: bool = False  # differs between attempts: every attempt renders anew

    @property
    def plain(self) -> bool:
        """Never absent and the same on every attempt: its code can stand for it anywhere."""
        return self.absent_if_none is None and not self.per_attempt


# The names the root expressions use besides ``ctx``.
ROOT_HELPERS: dict[str, Any] = {"_iso": _iso, "_iso_ms": _iso_ms}
ROOTS: dict[str, Root] = {
    "key": Root("ctx.event.key_str", absent_if_none="ctx.event.key"),
    "topic": Root("ctx.event.topic", text=True),
    "partition": Root("ctx.event.partition"),
    "offset": Root("ctx.event.offset"),
    "timestamp": Root("ctx.event.timestamp"),
    "timestamp_iso": Root("_iso_ms(ctx.event.timestamp)", text=True),
    "event_id": Root("ctx.event_id", text=True),
    "event_type": Root("ctx.event_type", absent_if_none="ctx.event_type"),
    "route": Root("ctx.route", text=True),
    "payload_version": Root("ctx.payload_version", text=True),
    "attempt": Root("ctx.attempt", per_attempt=True),
    "sent_at": Root("_iso(ctx.sent_at, millis=False)", text=True, per_attempt=True),
}


def _root_getter(root: Root, missing: Any) -> Getter:
    """The getter of ``root``, made from its source (safe to evaluate: every string in
    it is one of this module's constants)."""
    code = root.code
    if root.absent_if_none is not None:
        code = f"_missing if {root.absent_if_none} is None else {code}"
    getter: Getter = eval(f"lambda ctx: {code}", {**ROOT_HELPERS, "_missing": missing})
    return getter


# Most getters stand in MISSING for an absent root: made once.
_GETTERS = {name: _root_getter(root, MISSING) for name, root in ROOTS.items()}


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
    name, rest = root_match.group(1), expr[root_match.end() :]
    if name == "value":
        return _value_getter(_parse_segments(rest, expr), missing), False
    if name == "headers":
        keys = _parse_segments(rest, expr)
        if len(keys) != 1:
            raise TemplateSyntaxError(f"{expr!r}: use headers.<name> with exactly one name")
        return _header_getter(keys[0][0], missing), False
    root = ROOTS.get(name)
    if root is not None:
        if rest:
            raise TemplateSyntaxError(f"{expr!r}: {name} has no fields")
        absent = root.absent_if_none is not None and missing is not MISSING
        return _root_getter(root, missing) if absent else _GETTERS[name], root.per_attempt
    roots = ", ".join(["value.<path>", "headers.<name>", *sorted(ROOTS)])
    raise TemplateSyntaxError(f"unknown placeholder root {name!r} in {expr!r}; use one of {roots}")


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


def text_of(value: Any) -> str:
    """A value as it reads inside text: strings as they are, an absent one empty, JSON
    for the rest."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:  # offsets, partitions: the common non-string case
        return str(value)
    if value is None or value is MISSING:
        return ""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
