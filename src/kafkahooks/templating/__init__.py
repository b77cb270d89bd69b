"""Placeholder paths, the template compiler and code generator, template sets and route filters."""

from kafkahooks.templating.filters import EventFilter, compile_filter, compile_taker
from kafkahooks.templating.sets import TemplateSet, compile_templates
from kafkahooks.templating.templates import (
    MISSING,
    Getter,
    RenderContext,
    TemplateError,
    TemplateSyntaxError,
    compile_path,
    compile_template,
)

__all__ = [
    "MISSING",
    "EventFilter",
    "Getter",
    "RenderContext",
    "TemplateError",
    "TemplateSet",
    "TemplateSyntaxError",
    "compile_filter",
    "compile_path",
    "compile_taker",
    "compile_template",
    "compile_templates",
]
