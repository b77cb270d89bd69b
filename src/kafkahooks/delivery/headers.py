"""Per-event request headers: templated values and allow-listed forwarding.

``dynamic_headers`` renders one template string per header name.
``forward_headers`` copies, from the Kafka message headers or from a map
inside the event, only the names on its allow-list.  A missing value leaves
the header out; a value with a line break or other control character, or a
lone surrogate (no encoding can send it), is an error for that event (it
would split or smuggle a header).  A name that a static header also sets is
never taken from the event (names compare case-insensitively): configured
headers win.  Reserved names are refused at load (config/endpoint.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from kafkahooks.config import EndpointConfig
from kafkahooks.event import header_text
from kafkahooks.templating import (
    MISSING,
    RenderContext,
    TemplateError,
    compile_path,
    compile_template,
)

__all__ = ["HeaderSource", "header_source"]

HeaderSource = Callable[[RenderContext], dict[str, str]]
_MAX_VALUE = 8192
# C0 controls but HTAB, DEL, and lone surrogates
_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")


def _clean(name: str, value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    else:
        text = str(value)
    bad = _BAD.search(text)
    if bad is not None:
        what = "a lone surrogate" if bad.group() >= "\ud800" else "a control character"
        raise TemplateError(f"header {name}: value has {what}")
    if len(text) > _MAX_VALUE:
        raise TemplateError(f"header {name}: value is longer than {_MAX_VALUE} characters")
    return text or None


def _headers(pairs: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """The pairs that make a header value (later ones win); an unsendable value raises."""
    out: dict[str, str] = {}
    for name, value in pairs:
        text = _clean(name, value)
        if text is not None:
            out[name] = text
    return out


def _dynamic(spec: dict[str, str]) -> HeaderSource | None:
    if not spec:
        return None
    template = compile_template(dict(spec), "omit")

    def render(ctx: RenderContext) -> dict[str, str]:
        return _headers(template.render(ctx).items())

    return render


def _forwarded(source: str, allow: list[str]) -> HeaderSource:
    wanted = {name.lower(): name for name in allow}
    if source == "headers":

        def from_kafka(ctx: RenderContext) -> dict[str, str]:
            return _headers(
                (wanted[key.lower()], header_text(raw))
                for key, raw in ctx.event.headers
                if raw is not None and key.lower() in wanted
            )

        return from_kafka
    getter, _ = compile_path(source)

    def from_value(ctx: RenderContext) -> dict[str, str]:
        carried = getter(ctx)
        if not isinstance(carried, dict):
            return {}
        return _headers(
            (wanted[str(key).lower()], value)
            for key, value in carried.items()
            if str(key).lower() in wanted
        )

    return from_value


def header_source(endpoint: EndpointConfig) -> HeaderSource | None:
    """Everything per event in one callable, or ``None`` when nothing is."""
    static = endpoint.static_names()
    dynamic = {k: v for k, v in endpoint.dynamic_headers.items() if k.lower() not in static}
    forward = endpoint.forward_headers
    allow = [] if forward is None else [n for n in forward.allow if n.lower() not in static]
    parts = [p for p in (
        _dynamic(dynamic),
        None if forward is None or not allow else _forwarded(forward.source, allow),
    ) if p is not None]
    if not parts:
        return None

    def combined(ctx: RenderContext) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in parts:
            out.update(part(ctx))
        return out

    return combined
