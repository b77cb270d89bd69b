"""The load-time checks that need runtime code: templates, schema files, transport policy.

``config/`` reads a routes file into models and checks what the models alone can
tell (types, names, header rules); it imports no runtime code.  What only the
runtime can tell is checked here, before the config is used: every template and
placeholder path compiles (``templating/``), every Avro schema file parses
(``decode/``), and, where the caller gives the process's ``allow_local`` switch,
every active route's targets pass the transport policy (``delivery/guard.py``).

Every command that loads a routes file (``cli/``) and every hot reload
(``app/reload.py``) goes through :func:`load_checked`, so a file is refused in
the same words wherever it is loaded.  Problems are :class:`ConfigError` lines
naming the file, the route and the field, as the loader's own are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from kafkahooks.config import ConfigError, RouteConfig, RoutesFile, load_config
from kafkahooks.decode import schema_problem
from kafkahooks.delivery import transport_problems
from kafkahooks.templating import (
    TemplateSyntaxError,
    compile_path,
    compile_template,
)

__all__ = ["check_config", "config_problems", "load_checked", "route_expressions"]

Thunk = Callable[[], Any]


def route_expressions(route: RouteConfig) -> list[tuple[str, Thunk]]:
    """Every template and placeholder path ``route`` holds, as ``(field, compile)``: the
    route field it came from (as a problem names it) and a thunk that raises
    ``TemplateSyntaxError``."""
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


def _template_problems(config: RoutesFile) -> list[str]:
    problems = []
    for route in config.routes:
        for where, compile_it in route_expressions(route):
            try:
                compile_it()
            except TemplateSyntaxError as exc:
                problems.append(f"route {route.name!r} → {where}: {exc}")
    return problems


def _schema_problems(config: RoutesFile) -> list[str]:
    problems = []
    for topic, src in config.sources.items():
        for part, fmt in (("value", src.value), ("key", src.key)):
            if (problem := schema_problem(fmt)) is not None:
                problems.append(f"sources.{topic}.{part}: {problem}")
    for route in config.routes:
        for part, over in (("value_format", route.value_format), ("key_format", route.key_format)):
            if (problem := schema_problem(over)) is not None:
                problems.append(f"route {route.name!r} → {part}: {problem}")
    return problems


def config_problems(config: RoutesFile) -> list[str]:
    """What the templates and schema files of a loaded config get wrong."""
    return _template_problems(config) + _schema_problems(config)


def check_config(config: RoutesFile, source: str, allow_local: bool | None = None) -> RoutesFile:
    """``config`` once it passed the checks; :class:`ConfigError` naming ``source`` if not.

    Templates and schemas first; then, when ``allow_local`` is given, the transport
    policy of every active route (``KAFKAHOOKS_ALLOW_LOCAL_TARGETS`` is that switch).
    """
    problems = config_problems(config)
    if not problems and allow_local is not None:
        problems = transport_problems(config, allow_local)
    if problems:
        raise ConfigError(source, problems)
    return config


def load_checked(
    path: str | Path, env: Mapping[str, str] | None = None, allow_local: bool | None = None
) -> RoutesFile:
    """:func:`~kafkahooks.config.loader.load_config`, then :func:`check_config`."""
    return check_config(load_config(path, env), str(path), allow_local)
