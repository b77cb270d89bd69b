"""Load a routes file: YAML → ``${VAR}`` interpolation → models → template check.

Every failure becomes one :class:`ConfigError` whose lines name the file,
the route and the field, e.g.::

    routes.yaml: route 'calls' → endpoint.timeout: Input should be greater than 0
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kafkahooks.config.interpolate import InterpolationError, interpolate
from kafkahooks.config.models import RoutesFile
from kafkahooks.templates import TemplateSyntaxError, compile_path, compile_template

__all__ = ["ConfigError", "load_config", "parse_config"]


class ConfigError(Exception):
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


def _template_problems(raw: Any, config: RoutesFile) -> list[str]:
    problems = []
    for index, route in enumerate(config.routes):
        try:
            compile_template(route.template, route.on_missing)
        except TemplateSyntaxError as exc:
            problems.append(f"{_route_label(raw, index)} → template: {exc}")
        try:
            compile_path(route.event_type)
        except TemplateSyntaxError as exc:
            problems.append(f"{_route_label(raw, index)} → event_type: {exc}")
    return problems


def parse_config(text: str, source: str, env: Mapping[str, str] | None = None) -> RoutesFile:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError(source, ["expected a mapping with 'kafka' and 'routes'"])
    try:
        resolved = interpolate(raw, os.environ if env is None else env)
    except InterpolationError as exc:
        raise ConfigError(source, [f"{_where(raw, exc.path)}: {exc}"]) from None
    try:
        config = RoutesFile.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError(source, _validation_problems(raw, exc)) from None
    problems = _template_problems(raw, config)
    if problems:
        raise ConfigError(source, problems)
    return config


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> RoutesFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"]) from None
    return parse_config(text, str(path), env)
