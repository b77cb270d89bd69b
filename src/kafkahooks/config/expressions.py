"""Every template and placeholder path a route holds, for checking at load time.

Each entry is ``(field, compile)``: the route field it came from (as the
error message names it) and a thunk that raises ``TemplateSyntaxError``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from kafkahooks.templating.templates import compile_path, compile_template

if TYPE_CHECKING:
    from kafkahooks.config.models import RouteConfig

__all__ = ["route_expressions"]

Thunk = Callable[[], Any]


def route_expressions(route: RouteConfig) -> list[tuple[str, Thunk]]:
    out: list[tuple[str, Thunk]] = []
    policy = route.on_missing
    if route.template is not None:
        out.append(("template", lambda: compile_template(route.template, policy)))
    for etype, spec in route.templates.items():
        out.append((f"templates.{etype}", partial(compile_template, spec, policy)))
    out.append(("event_type", lambda: compile_path(route.event_type)))
    for i, predicate in enumerate(route.filter):
        out.append((f"filter[{i}].field", partial(compile_path, predicate.field)))
    endpoint = route.endpoint
    for name, spec in endpoint.dynamic_headers.items():
        out.append((f"endpoint.dynamic_headers.{name}", partial(compile_template, spec)))
    forward = endpoint.forward_headers
    if forward is not None and forward.source != "headers":
        out.append(("endpoint.forward_headers.source", lambda: compile_path(forward.source)))
    return out
