"""Load a routes file: YAML → ``${VAR}`` interpolation → models.

Every failure becomes one :class:`ConfigError` whose lines name the file,
the route and the field, e.g.::

    routes.yaml: route 'calls' → endpoint.timeout: Input should be greater than 0

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
from kafkahooks.config.models import RoutesFile
from kafkahooks.errors import KafkahooksError

__all__ = ["ConfigError", "load_config", "parse_config"]


class ConfigError(KafkahooksError):
    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
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


def _validation_problems(raw: Any, exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        # model validators that raise ValueError report "Value error, ..."
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{_where(raw, tuple(err['loc']))}: {message}")
    return problems


def _mark_urls(raw: Any, config: RoutesFile, env: Mapping[str, str]) -> None:
    """Tell each endpoint which characters of its URL came from a ``${VAR}``, so that
    printing it masks them (config/urls.py)."""
    routes = raw.get("routes")
    for index, route in enumerate(config.routes):
        entry = routes[index] if isinstance(routes, list) and index < len(routes) else None
        endpoint = entry.get("endpoint") if isinstance(entry, dict) else None
        text = endpoint.get("url") if isinstance(endpoint, dict) else None
        if not isinstance(text, str):
            continue
        resolved, marks = interpolate_marked(text, env)
        if resolved == route.endpoint.url:
            route.endpoint._url_from_vars = marks


def parse_config(
    text: str, source: str, env: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> RoutesFile:
    """``base_dir``: where relative schema paths start (the routes file's folder)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError(source, ["expected a mapping with 'kafka' and 'routes'"])
    env = os.environ if env is None else env
    try:
        resolved = interpolate(raw, env)
    except InterpolationError as exc:
        raise ConfigError(source, [f"{_where(raw, exc.path)}: {exc}"]) from None
    try:
        config = RoutesFile.model_validate(resolved, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(source, _validation_problems(raw, exc)) from None
    _mark_urls(raw, config, env)
    return config


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> RoutesFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"]) from None
    return parse_config(text, str(path), env, base_dir=path.parent)
