"""A route's templates: one fallback and optional ones per event type.

Auvious-style contracts send different fields per state change; a route
lists those under ``templates`` keyed by event type, with ``template`` as
the fallback for every other type.  A type with neither is not taken by the
route (see :meth:`TemplateSet.covers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafkahooks.config import RouteConfig
from kafkahooks.templating.templates import (
    CompiledTemplate,
    RenderContext,
    TemplateError,
    compile_template,
)

__all__ = ["TemplateSet", "compile_templates"]


@dataclass(frozen=True, slots=True)
class TemplateSet:
    default: CompiledTemplate | None
    by_type: dict[str, CompiledTemplate]
    per_attempt: bool  # any of them uses attempt/sent_at

    def pick(self, event_type: Any) -> CompiledTemplate | None:
        if self.by_type and isinstance(event_type, str):
            return self.by_type.get(event_type, self.default)
        return self.default

    def covers(self, event_type: Any) -> bool:
        return self.pick(event_type) is not None

    def render(self, ctx: RenderContext) -> Any:
        template = self.pick(ctx.event_type)
        if template is None:
            raise TemplateError(f"no template for event type {ctx.event_type!r}")
        return template.render(ctx)


def compile_templates(config: RouteConfig) -> TemplateSet:
    default = (
        None if config.template is None else compile_template(config.template, config.on_missing)
    )
    by_type = {k: compile_template(v, config.on_missing) for k, v in config.templates.items()}
    every = [t for t in (default, *by_type.values()) if t is not None]
    return TemplateSet(default, by_type, any(t.per_attempt for t in every))
