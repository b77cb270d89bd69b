"""The shape the README promises, kept by the build (issue 13).

- Each package's ``__init__`` is its only door: a module outside a package imports the
  package's public names from the package itself, never from one of its modules, and never
  a private (``_``) name.  Every name in a door's ``__all__`` exists.
- Offsets are committed in exactly one module, ``kafka/commits.py``.
- The layer and no-cycle contracts live in ``pyproject.toml`` (``lint-imports``, run by
  ``make test``); this file checks what import-linter cannot express.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "kafkahooks"
PACKAGES = sorted(p.name for p in SRC.iterdir() if (p / "__init__.py").exists())
# librdkafka calls that move a committed offset
COMMIT_CALLS = {"commit", "send_offsets_to_transaction", "commit_transaction", "store_offsets"}
COMMIT_HOME = SRC / "kafka" / "commits.py"


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _package_of(path: Path) -> str | None:
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else None


def test_other_packages_are_entered_through_their_door_only() -> None:
    wrong = []
    for path, tree in _modules():
        here = _package_of(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kafkahooks."):
                parts = (node.module or "").split(".")
                if parts[1] in PACKAGES and parts[1] != here and len(parts) > 2:
                    wrong.append(f"{path.relative_to(SRC)}:{node.lineno}: from {node.module}")
                if parts[1] != here:
                    wrong += [
                        f"{path.relative_to(SRC)}:{node.lineno}: private {alias.name}"
                        for alias in node.names
                        if alias.name.startswith("_") and alias.name != "__version__"
                    ]
            elif isinstance(node, ast.Import):
                wrong += [
                    f"{path.relative_to(SRC)}:{node.lineno}: import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("kafkahooks.")
                    and alias.name.split(".")[1] != here
                ]
    assert wrong == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_a_door_lists_exists(package: str) -> None:
    module = importlib.import_module(f"kafkahooks.{package}")
    listed = getattr(module, "__all__", None)
    assert listed is not None, f"kafkahooks.{package} has no __all__"
    assert sorted(set(listed)) == sorted(listed), "names listed twice"
    assert [name for name in listed if not hasattr(module, name)] == []


def test_offsets_are_committed_in_one_module() -> None:
    elsewhere = [
        f"{path.relative_to(SRC)}:{node.lineno}: .{node.func.attr}()"
        for path, tree in _modules()
        if path != COMMIT_HOME
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in COMMIT_CALLS
        # an Offset commit passes offsets; our own helpers named commit take none
        and (node.func.attr != "commit" or any(k.arg in ("offsets", "asynchronous")
                                               for k in node.keywords))
    ]
    assert elsewhere == []


def test_the_architecture_page_lists_every_module_and_no_other() -> None:
    """docs/architecture.md's module table is the map: it must match the tree."""
    page = (SRC.parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = page.split("## Modules", 1)[1]
    listed = set(re.findall(r"^\| `([a-z0-9_/]+\.py)` \|", table, re.M))
    actual = {
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py") and "samples" not in path.parts
    }
    assert sorted(actual - listed) == [], "modules missing from docs/architecture.md"
    assert sorted(listed - actual) == [], "docs/architecture.md lists modules that are gone"
