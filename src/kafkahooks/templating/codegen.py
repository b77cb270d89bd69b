"""A template as one generated Python function.

The closure tree of :mod:`kafkahooks.templates` calls a function per node and
per field: ~11.6 µs an event for the benchmark's 16-field payload, a third of
a batch-mode event's CPU.  This writes the same template as one function that
reads each ``value.<name>...`` field into a local (shared prefixes are walked
once) and returns one literal, so rendering is plain bytecode (~3 µs, see
``bench/render_sign.py``).

Every other leaf (text with placeholders, headers, timestamps, lists indexed
by number, the ``fail`` policy) calls the closure compiled for it, so what a
placeholder means is defined in one place.
"""

from __future__ import annotations

from typing import Any

from kafkahooks.templating.templates import (
    _OMIT,
    _PLACEHOLDER,
    _WHOLE,
    INLINE_OPTIONAL,
    INLINE_ROOTS,
    MISSING,
    MissingPolicy,
    Node,
    _Compiler,
    _iso_ms,
    _text,
    value_names,
)

__all__ = ["generate"]

_LITERALS = (str, int, bool, type(None))


def _drop(obj: dict[str, Any], omitted: bool | None = None) -> dict[str, Any]:
    """``omitted``: what the generated code knows; None (a closure field) looks."""
    if omitted is None:
        omitted = _OMIT in obj.values()
    return {k: v for k, v in obj.items() if v is not _OMIT} if omitted else obj


def _drop_items(items: list[Any], omitted: bool = True) -> list[Any]:
    return [v for v in items if v is not _OMIT] if omitted else items


class _Writer:
    def __init__(self, compiler: _Compiler, policy: MissingPolicy) -> None:
        self.compiler = compiler
        self.omit = policy == "omit"
        self.inline = policy != "fail"  # "fail" leaves raise with their field: closures
        self.missing = "None" if policy == "null" else "_OMIT"
        self.env: dict[str, Any] = {
            "_OMIT": _OMIT, "_MISSING": MISSING, "_drop": _drop, "_drop_items": _drop_items,
            "_iso_ms": _iso_ms, "_text": _text,
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
        whole = _WHOLE.match(spec)
        expr = whole.group(1).strip() if whole else None
        if expr in INLINE_ROOTS:
            return INLINE_ROOTS[expr][0]
        if self.inline and expr in INLINE_OPTIONAL:
            return self.optional(*INLINE_OPTIONAL[expr])
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
        for match in _PLACEHOLDER.finditer(spec):
            parts.append(repr(spec[pos : match.start()]))
            expr = match.group(1).strip()
            if expr in INLINE_ROOTS:
                code, is_text = INLINE_ROOTS[expr]
                parts.append(code if is_text else f"str({code})")
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


def generate(spec: Any, compiler: _Compiler, policy: MissingPolicy) -> Node:
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
