"""A template as one generated Python function.

The closure tree of :mod:`kafkahooks.templating.templates` calls a function per node and
per field: ~11.6 µs an event for the benchmark's 16-field payload, a third of
a batch-mode event's CPU.  This writes the same template as one function that
reads each ``value.<name>...`` field into a local (shared prefixes are walked
once) and returns one literal, so rendering is plain bytecode (~3 µs, see
``bench/render_sign.py``).

A root is inlined as the source :data:`~kafkahooks.templating.paths.ROOTS`
gives it, the source its getter is made from.  Every other leaf (headers,
per-attempt roots, lists indexed by number, the ``fail`` policy) calls the
closure the template compiler makes for it, so what a placeholder means is
defined in one place.  This module builds on ``paths.py`` only; the compiler
(``templates.py``) calls it and hands itself in for the leaves.
"""

from __future__ import annotations

from typing import Any, Protocol

from kafkahooks.templating.paths import (
    MISSING,
    OMIT,
    PLACEHOLDER,
    ROOT_HELPERS,
    ROOTS,
    WHOLE,
    MissingPolicy,
    Node,
    text_of,
    value_names,
)

__all__ = ["LeafCompiler", "generate"]


class LeafCompiler(Protocol):
    """Compiles one template leaf to a closure, checking it and naming its field."""

    def node(self, spec: Any, where: str) -> Node: ...

_LITERALS = (str, int, bool, type(None))


def _drop(obj: dict[str, Any], omitted: bool | None = None) -> dict[str, Any]:
    """``omitted``: what the generated code knows; None (a closure field) looks."""
    if omitted is None:
        omitted = OMIT in obj.values()
    return {k: v for k, v in obj.items() if v is not OMIT} if omitted else obj


def _drop_items(items: list[Any], omitted: bool = True) -> list[Any]:
    return [v for v in items if v is not OMIT] if omitted else items


class _Writer:
    def __init__(self, compiler: LeafCompiler, policy: MissingPolicy) -> None:
        self.compiler = compiler
        self.omit = policy == "omit"
        self.inline = policy != "fail"  # "fail" leaves raise with their field: closures
        self.missing = "None" if policy == "null" else "_OMIT"
        self.env: dict[str, Any] = {
            **ROOT_HELPERS,
            "_OMIT": OMIT, "_MISSING": MISSING, "_drop": _drop, "_drop_items": _drop_items,
            "_text": text_of,
        }
        self.body: list[str] = []
        self.walked: dict[tuple[str, ...], str] = {(): "v"}
        self.count = 0
        # What a field's code may leave out: locals of inlined lookups, and closure calls
        # (opaque: checked the slow way).  Constants, text, roots and containers never are.
        self.lookups: set[str] = set()
        self.closures: set[str] = set()

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def bind(self, obj: Any, prefix: str) -> str:
        name = self.fresh(prefix)
        self.env[name] = obj
        return name

    def expr(self, spec: Any, where: str) -> str:
        if isinstance(spec, dict):
            codes = [self.expr(v, f"{where}.{k}" if where else str(k)) for k, v in spec.items()]
            fields = ", ".join(f"{str(k)!r}: {code}" for k, code in zip(spec, codes, strict=True))
            return self.dropping("_drop", f"{{{fields}}}", codes)
        if isinstance(spec, list):
            codes = [self.expr(v, f"{where}[{i}]") for i, v in enumerate(spec)]
            return self.dropping("_drop_items", f"[{''.join(f'{c}, ' for c in codes)}]", codes)
        if isinstance(spec, str) and "{{" in spec:
            return self.leaf(spec, where)
        if type(spec) in _LITERALS:
            return repr(spec)
        return self.bind(spec, "c")  # floats and the like: the same object every time

    def dropping(self, drop: str, container: str, codes: list[str]) -> str:
        """``container`` without its omitted fields: checked only where one can be."""
        if not self.omit:
            return container
        if any(code in self.closures for code in codes):
            return f"{drop}({container})"
        omittable = [f"{code} is _OMIT" for code in codes if code in self.lookups]
        if not omittable:
            return container
        return f"{drop}({container}, {' or '.join(omittable)})"

    def leaf(self, spec: str, where: str) -> str:
        whole = WHOLE.match(spec)
        expr = whole.group(1).strip() if whole else None
        root = ROOTS.get(expr) if expr is not None else None
        if root is not None and root.plain:
            return root.code
        if self.inline and root is not None and not root.per_attempt:
            assert root.absent_if_none is not None  # not plain, not per attempt
            return self.optional(root.absent_if_none, root.code)
        inlined: str | None = None
        if self.inline and expr is None:
            inlined = self.text(spec)
        elif self.inline and expr is not None and (names := value_names(expr)) is not None:
            inlined = self.lookup(names)
        return inlined or self.closure(spec, where)

    def closure(self, spec: str, where: str) -> str:
        node: Node = self.compiler.node(spec, where)
        code = f"{self.bind(node, 'n')}(ctx)"
        self.closures.add(code)
        return code

    def text(self, spec: str) -> str | None:
        """Text with placeholders as one concatenation, when every one can be inlined."""
        parts, pos = [], 0
        for match in PLACEHOLDER.finditer(spec):
            parts.append(repr(spec[pos : match.start()]))
            expr = match.group(1).strip()
            root = ROOTS.get(expr)
            if root is not None and root.plain:
                parts.append(root.code if root.text else f"str({root.code})")
            elif (names := value_names(expr)) is not None:
                parts.append(f"_text({self.lookup(names, '_MISSING')})")
            else:
                return None
            pos = match.end()
        tail = spec[pos:]
        if "{{" in tail or any("{{" in p for p in parts[::2]):
            return None  # unbalanced: the closure compiler reports it
        parts.append(repr(tail))
        return "(" + " + ".join(p for p in parts if p != "''") + ")"

    def optional(self, absent_if_none: str, value: str) -> str:
        var = self.fresh("x")
        self.body.append(f"{var} = {self.missing} if {absent_if_none} is None else {value}")
        if self.missing == "_OMIT":
            self.lookups.add(var)
        return var

    def lookup(self, names: tuple[str, ...], missing: str | None = None) -> str:
        missing = missing or self.missing
        parent = self.walk(names[:-1])
        var = self.fresh("x")
        self.body.append(
            f"{var} = {parent}.get({names[-1]!r}, {missing}) "
            f"if type({parent}) is dict else {missing}"
        )
        if missing == "_OMIT":
            self.lookups.add(var)
        return var

    def walk(self, prefix: tuple[str, ...]) -> str:
        """The local holding ``value.<prefix>`` (or _MISSING): each prefix walked once."""
        if prefix in self.walked:
            return self.walked[prefix]
        parent = self.walk(prefix[:-1])
        var = self.walked[prefix] = self.fresh("p")
        self.body.append(
            f"{var} = {parent}.get({prefix[-1]!r}, _MISSING) if type({parent}) is dict "
            "else _MISSING"
        )
        return var


def generate(spec: Any, compiler: LeafCompiler, policy: MissingPolicy) -> Node:
    """One function rendering ``spec``; leaf closures come from ``compiler``."""
    writer = _Writer(compiler, policy)
    result = writer.expr(spec, "")
    lines = ["def render(ctx):", "    v = ctx.event.value"]
    lines += [f"    {line}" for line in writer.body]
    lines.append(f"    return {result}")
    # Safe to run: names are ours, and every string from the config enters as a repr() literal.
    exec("\n".join(lines), writer.env)
    render: Node = writer.env["render"]
    return render
