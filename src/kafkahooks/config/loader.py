"""Load a routes file: YAML → ``${VAR}`` interpolation → models.

Every failure becomes one :class:`ConfigError` whose lines name the file,
the route and the field, e.g.::

    routes.yaml: route 'calls' → endpoint.timeout: Input should be greater than 0

All problems are found in one pass: every unset ``${VAR}`` and every schema
error together (a field whose variable is unset is reported once, as unset,
not again as the empty value it then reads as).  The error also carries the
routes that are valid on their own, so that the runtime checks can report
their template and schema-file problems in the same message.

Invariant: this package imports no runtime code.  What only the runtime can
check (templates compile, schema files parse, targets pass the transport
policy) is checked by ``app/checks.py`` on every path that loads a file for use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kafkahooks.config.interpolate import InterpolationError, interpolate, interpolate_marked
from kafkahooks.config.models import RouteConfig, RoutesFile
from kafkahooks.config.sources import SourceConfig
from kafkahooks.errors import KafkahooksError

__all__ = ["ConfigError", "load_config", "parse_config"]


class ConfigError(KafkahooksError):
    """``problems``: one line each, without the file name; ``routes`` and ``sources``: the
    parts that are valid on their own although the file is not (for the checks that go
    further: templates, schema files, targets)."""

    def __init__(
        self,
        source: str,
        problems: list[str],
        routes: list[RouteConfig] | None = None,
        sources: dict[str, SourceConfig] | None = None,
    ) -> None:
        self.source = source
        self.problems = problems
        self.routes = routes or []
        self.sources = sources or {}
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def _route_label(raw: Any, index: int) -> str:
    routes = raw.get("routes") if isinstance(raw, dict) else None
    if isinstance(routes, list) and index < len(routes) and isinstance(routes[index], dict):
        name = routes[index].get("name")
        if isinstance(name, str):
            return f"route {name!r}"
    return f"route #{index + 1}"


def _where(raw: Any, loc: tuple[str | int, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "routes" and isinstance(loc[1], int):
        rest = ".".join(str(p) for p in loc[2:]) or "(route)"
        return f"{_route_label(raw, loc[1])} → {rest}"
    return ".".join(str(p) for p in loc) or "(top level)"


Loc = tuple[str | int, ...]


_EMPTY_HINT = "(is its environment variable set?)"  # the models' word for an empty secret


def _follows_unset(loc: Loc, message: str, unset: list[Loc]) -> bool:
    """Whether an error is only the echo of an unset variable: at or under its field, or
    an "empty secret" of the same route (the field may be named by an alias there)."""
    if any(loc[: len(path)] == path for path in unset):
        return True
    return message.endswith(_EMPTY_HINT) and any(loc[:2] == path[:2] for path in unset)


def _validation_problems(raw: Any, exc: ValidationError, unset: list[Loc]) -> list[str]:
    """One line per error, leaving out the echoes of unset variables."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(err["loc"])
        # model validators that raise ValueError report "Value error, ..."
        message = str(err["msg"]).removeprefix("Value error, ")
        if not _follows_unset(loc, message, unset):
            problems.append(f"{_where(raw, loc)}: {message}")
    return problems


def _route_index(loc: Loc) -> int | None:
    return loc[1] if len(loc) >= 2 and loc[0] == "routes" and isinstance(loc[1], int) else None


def _sound_routes(
    raw: Any, resolved: Any, bad: set[int | None], env: Mapping[str, str], base_dir: Path | None
) -> list[RouteConfig]:
    """The routes without a problem of their own, each validated alone."""
    entries = resolved.get("routes") if isinstance(resolved, dict) else None
    if not isinstance(entries, list):
        return []
    sound = []
    for index, entry in enumerate(entries):
        if index in bad:
            continue
        try:
            route = RouteConfig.model_validate(entry, context={"base_dir": base_dir})
        except ValidationError:
            continue
        _mark_url(raw, index, route, env)
        sound.append(route)
    return sound


def _mark_url(raw: Any, index: int, route: RouteConfig, env: Mapping[str, str]) -> None:
    """Tell the endpoint which characters of its URL came from a ``${VAR}``, so that
    printing it masks them (config/urls.py)."""
    routes = raw.get("routes")
    entry = routes[index] if isinstance(routes, list) and index < len(routes) else None
    endpoint = entry.get("endpoint") if isinstance(entry, dict) else None
    text = endpoint.get("url") if isinstance(endpoint, dict) else None
    if not isinstance(text, str):
        return
    resolved, marks = interpolate_marked(text, env)
    if route.endpoint is not None and resolved == route.endpoint.url:
        route.endpoint._url_from_vars = marks


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One readable line: where, what, and in what (PyYAML's own text spans several
    lines, quotes a ``<unicode string>`` and repeats the document)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"not valid YAML: {' '.join(str(exc).split())}"
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = exc.problem or "cannot be parsed"
    context = f" ({exc.context})" if exc.context else ""
    return f"not valid YAML{where}: {what}{context}"


def _sound_sources(resolved: Any, bad: set[str], base_dir: Path | None) -> dict[str, SourceConfig]:
    """The ``sources`` entries without a problem of their own, each validated alone."""
    entries = resolved.get("sources") if isinstance(resolved, dict) else None
    if not isinstance(entries, dict):
        return {}
    sound = {}
    for topic, entry in entries.items():
        if str(topic) in bad:
            continue
        try:
            sound[str(topic)] = SourceConfig.model_validate(entry, context={"base_dir": base_dir})
        except ValidationError:
            continue
    return sound


def parse_config(
    text: str, source: str, env: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> RoutesFile:
    """``base_dir``: where relative schema paths start (the routes file's folder)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_yaml_problem(exc)]) from None
    if not isinstance(raw, dict):
        raise ConfigError(source, ["expected a mapping with 'kafka' and 'routes'"])
    env = os.environ if env is None else env
    unset: list[InterpolationError] = []
    resolved = interpolate(raw, env, unset=unset)
    problems = [f"{_where(raw, exc.path)}: {exc}" for exc in unset]
    locs: list[Loc] = [exc.path for exc in unset]
    try:
        config = RoutesFile.model_validate(resolved, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems += _validation_problems(raw, exc, [e.path for e in unset])
        locs += [tuple(err["loc"]) for err in exc.errors()]
        config = None
    if problems or config is None:
        bad_routes = {_route_index(loc) for loc in locs}
        bad_sources = {str(loc[1]) for loc in locs if len(loc) >= 2 and loc[0] == "sources"}
        routes = _sound_routes(raw, resolved, bad_routes, env, base_dir)
        raise ConfigError(source, problems, routes, _sound_sources(resolved, bad_sources, base_dir))
    for index, route in enumerate(config.routes):
        _mark_url(raw, index, route, env)
    return config


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> RoutesFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"]) from None
    return parse_config(text, str(path), env, base_dir=path.parent)
