"""Declarative payload templates, compiled once and rendered per event.

A template is any JSON-like structure.  String leaves may hold placeholders::

    status: "{{ value.data.status }}"          # exactly one placeholder: keeps the type
    summary: "call {{ key }} is {{ value.data.status }}"   # text: always a string

What a placeholder may name, and what each name means, is ``paths.py``.
Compilation turns every path into a chain of plain lookups, so rendering
never runs an expression interpreter per event: :func:`compile_template`
has the code generator (``codegen.py``) write the template as one function,
and compiles here, as closures, the leaves it does not inline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafkahooks.templating.codegen import generate
from kafkahooks.templating.paths import (
    MISSING,
    OMIT,
    PLACEHOLDER,
    WHOLE,
    Getter,
    MissingPolicy,
    Node,
    RenderContext,
    TemplateError,
    TemplateSyntaxError,
    compile_path,
    text_of,
)

__all__ = [
    "MISSING",
    "CompiledTemplate",
    "Getter",
    "RenderContext",
    "TemplateError",
    "TemplateSyntaxError",
    "compile_path",
    "compile_template",
]


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
            whole = WHOLE.match(spec)
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
            return self._getter(expr, where, None if self.policy == "null" else OMIT)
        getter = self._getter(expr, where)
        on_missing = self._missing_value(expr, where)

        def typed(ctx: RenderContext) -> Any:
            value = getter(ctx)
            return on_missing() if value is MISSING else value

        return typed

    def _string(self, spec: str, where: str) -> Node:
        parts: list[str | Getter] = []
        pos = 0
        for match in PLACEHOLDER.finditer(spec):
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
                out.append(text_of(value))
            return "".join(out)

        return text

    def _missing_value(self, expr: str, where: str) -> Callable[[], Any]:
        if self.policy == "null":
            return lambda: None
        if self.policy == "omit":
            return lambda: OMIT

        def fail() -> Any:
            raise TemplateError(f"field {where}: source {expr!r} is missing in the event")

        return fail

    def _object(self, spec: dict[Any, Any], where: str) -> Node:
        items = [
            (str(k), self.node(v, f"{where}.{k}" if where else str(k))) for k, v in spec.items()
        ]

        def obj(ctx: RenderContext) -> dict[str, Any]:
            return {key: node(ctx) for key, node in items}

        if self.policy != "omit":  # only "omit" ever yields OMIT
            return obj

        def obj_omitting(ctx: RenderContext) -> dict[str, Any]:
            out = obj(ctx)
            if any(value is OMIT for value in out.values()):
                return {k: v for k, v in out.items() if v is not OMIT}
            return out

        return obj_omitting

    def _list(self, spec: list[Any], where: str) -> Node:
        nodes = [self.node(v, f"{where}[{i}]") for i, v in enumerate(spec)]

        def seq(ctx: RenderContext) -> list[Any]:
            return [node(ctx) for node in nodes]

        if self.policy != "omit":
            return seq
        return lambda ctx: [v for v in seq(ctx) if v is not OMIT]


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    root: Node
    per_attempt: bool  # uses attempt/sent_at, so every attempt renders anew

    def render(self, ctx: RenderContext) -> Any:
        value = self.root(ctx)
        return None if value is OMIT else value


def compile_template(spec: Any, policy: MissingPolicy = "null") -> CompiledTemplate:
    compiler = _Compiler(policy)  # compiles (and checks, naming the field) what is not inlined
    root = generate(spec, compiler, policy)
    return CompiledTemplate(root=root, per_attempt=compiler.per_attempt)
