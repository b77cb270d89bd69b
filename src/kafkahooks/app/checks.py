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
naming the file, the route and the field, as the loader's own are, and they come
all at once: a file with an unset variable, a schema error, two bad templates
and a refused target gets one message with every one of them (the templates,
schema files and targets of the routes that are valid on their own are checked
even when another part of the file is not).

:func:`sample_warnings` is advice, not a refusal: a ``value.`` placeholder that
the route's built-in sample events do not have (a typo such as ``value.frm``)
would render as null (or be left out, or fail, per ``on_missing``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from kafkahooks.config import (
    AvroFormat,
    ConfigError,
    KeyFormat,
    RegistryAvroFormat,
    RouteConfig,
    RoutesFile,
    SourceConfig,
    ValueFormat,
    load_config,
)
from kafkahooks.delivery import route_problems
from kafkahooks.samples import sample_events
from kafkahooks.templating import (
    MISSING,
    RenderContext,
    TemplateSyntaxError,
    compile_path,
    compile_taker,
    compile_template,
    compile_templates,
)

__all__ = [
    "AllowLocal",
    "check_config",
    "config_problems",
    "load_checked",
    "route_expressions",
    "sample_warnings",
]

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
    if route.endpoints is not None:
        out.append(("endpoints.tenant", partial(compile_path, route.endpoints.tenant)))
    endpoint = route.endpoint
    if endpoint is None:
        return out
    for name, spec in endpoint.dynamic_headers.items():
        out.append((f"endpoint.dynamic_headers.{name}", partial(compile_template, spec)))
    forward = endpoint.forward_headers
    if forward is not None and forward.source != "headers":
        out.append(("endpoint.forward_headers.source", lambda: compile_path(forward.source)))
    return out


def _template_problems(routes: Iterable[RouteConfig]) -> list[str]:
    problems = []
    for route in routes:
        for where, compile_it in route_expressions(route):
            try:
                compile_it()
            except TemplateSyntaxError as exc:
                problems.append(f"route {route.name!r} → {where}: {exc}")
    return problems


def _schema_problem(fmt: ValueFormat | KeyFormat | None) -> str | None:
    """Why a format's schema files cannot be used; only an Avro format has any (the Avro
    code, fastavro among it, is imported for such a format only)."""
    if not isinstance(fmt, AvroFormat | RegistryAvroFormat):
        return None
    from kafkahooks.decode import schema_problem

    return schema_problem(fmt)


def _source_schema_problems(sources: Mapping[str, SourceConfig]) -> list[str]:
    problems = []
    for topic, src in sources.items():
        for part, fmt in (("value", src.value), ("key", src.key)):
            if (problem := _schema_problem(fmt)) is not None:
                problems.append(f"sources.{topic}.{part}: {problem}")
    return problems


def _route_schema_problems(routes: Iterable[RouteConfig]) -> list[str]:
    problems = []
    for route in routes:
        for part, over in (("value_format", route.value_format), ("key_format", route.key_format)):
            if (problem := _schema_problem(over)) is not None:
                problems.append(f"route {route.name!r} → {part}: {problem}")
    return problems


# The process's KAFKAHOOKS_ALLOW_LOCAL_TARGETS switch, or a function that reads it: asked
# only when a target would be refused without it (reading the process settings imports
# pydantic-settings, a tenth of ``kafkahooks check``'s start-up).
AllowLocal = bool | Callable[[], bool] | None


def _transport_problems(routes: list[RouteConfig], allow_local: AllowLocal) -> list[str]:
    if allow_local is None:
        return []
    active = [r for r in routes if r.active]
    # the switch only ever allows more: what passes without it passes with it
    strict = [p for r in active for p in route_problems(r, False)]
    if not strict or allow_local is False:
        return strict
    if (allow_local() if callable(allow_local) else allow_local) is False:
        return strict
    return [p for r in active for p in route_problems(r, True)]


def _route_problems(routes: list[RouteConfig], allow_local: AllowLocal) -> list[str]:
    """Templates, schema files and (when ``allow_local`` is given) the transport policy
    of ``routes``: everything that can be wrong with a route on its own."""
    return (
        _template_problems(routes)
        + _route_schema_problems(routes)
        + _transport_problems(routes, allow_local)
    )


def config_problems(config: RoutesFile) -> list[str]:
    """What the templates and schema files of a loaded config get wrong."""
    return _source_schema_problems(config.sources) + _route_problems(config.routes, None)


def check_config(config: RoutesFile, source: str, allow_local: AllowLocal = None) -> RoutesFile:
    """``config`` once it passed the checks; :class:`ConfigError` naming ``source`` if not.

    Templates and schemas, and, when ``allow_local`` is given, the transport policy of
    every active route (``KAFKAHOOKS_ALLOW_LOCAL_TARGETS`` is that switch): all of them.
    """
    problems = _source_schema_problems(config.sources) + _route_problems(config.routes, allow_local)
    if problems:
        raise ConfigError(source, problems)
    return config


def load_checked(
    path: str | Path, env: Mapping[str, str] | None = None, allow_local: AllowLocal = None
) -> RoutesFile:
    """:func:`~kafkahooks.config.loader.load_config`, then :func:`check_config`; when the
    file does not load, its problems together with those of the routes that did."""
    try:
        config = load_config(path, env)
    except ConfigError as exc:
        more = _source_schema_problems(exc.sources) + _route_problems(exc.routes, allow_local)
        raise ConfigError(exc.source, exc.problems + more) from None
    return check_config(config, str(path), allow_local)


_PLACEHOLDER = re.compile(r"\{\{\s*(value(?:[.\[][^{}]*?)?)\s*\}\}")


def _value_paths(spec: Any) -> Iterator[str]:
    """Every ``value...`` placeholder path in a template spec, in order."""
    if isinstance(spec, str):
        yield from _PLACEHOLDER.findall(spec)
    elif isinstance(spec, dict):
        for item in spec.values():
            yield from _value_paths(item)
    elif isinstance(spec, list):
        for item in spec:
            yield from _value_paths(item)


def _taken_samples(config: RouteConfig) -> list[RenderContext]:
    """The built-in sample events that ``config`` takes, as render contexts, by the rule
    delivery uses (``compile_taker``; built from the templating parts alone, so that
    ``check`` does not import the HTTP client, auth and metrics a compiled route holds)."""
    takes = compile_taker(config, compile_templates(config))
    taken = []
    for _, event in sample_events(config.topics[0]):
        ctx = RenderContext(event, "", config.name, config.payload_version)
        if takes(ctx):
            taken.append(ctx)
    return taken


def _route_sample_warnings(config: RouteConfig) -> list[str]:
    """A path counts as known when any sample the route takes has it (a field that only
    some event types carry is not a typo)."""
    contexts = _taken_samples(config)
    if not contexts:
        return []
    specs = [("template", config.template)]
    specs += [(f"templates.{etype}", spec) for etype, spec in config.templates.items()]
    warnings = []
    for field, spec in specs:
        for path in dict.fromkeys(_value_paths(spec)):
            getter = compile_path(path)[0]
            if all(getter(ctx) is MISSING for ctx in contexts):
                warnings.append(
                    f"route {config.name!r} → {field}: {{{{ {path} }}}} is in none of the "
                    f"built-in sample events this route takes (a typo? it would render "
                    f"per on_missing: {config.on_missing})"
                )
    return warnings


def sample_warnings(routes: Iterable[RouteConfig]) -> list[str]:
    """``value.`` placeholders that a route's built-in sample events lack (a route that
    takes none of the samples is not judged)."""
    return [w for route in routes for w in _route_sample_warnings(route)]
