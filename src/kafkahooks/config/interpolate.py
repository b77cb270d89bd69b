"""``${VAR}`` / ``${VAR:-default}`` interpolation over a parsed YAML tree.

Interpolation runs after YAML parsing, on string scalars only, so a value
from the environment can never change the document's structure.  ``$${``
escapes a literal ``${``.  Template placeholders use ``{{ }}`` and are left
untouched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["InterpolationError", "interpolate"]

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class InterpolationError(ValueError):
    def __init__(self, path: tuple[str | int, ...], variable: str) -> None:
        self.path = path
        self.variable = variable
        super().__init__(f"environment variable {variable} is not set and has no default")


def _substitute(text: str, env: Mapping[str, str], path: tuple[str | int, ...]) -> str:
    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise InterpolationError(path, name)

    return _VAR.sub(repl, text)


def interpolate(node: Any, env: Mapping[str, str], path: tuple[str | int, ...] = ()) -> Any:
    """Return a copy of ``node`` with every string scalar interpolated."""
    if isinstance(node, str):
        return _substitute(node, env, path) if "$" in node else node
    if isinstance(node, dict):
        return {k: interpolate(v, env, (*path, str(k))) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, (*path, i)) for i, v in enumerate(node)]
    return node
