"""Payload shapes: a rendered template → the exact bytes that are signed and sent.

``json``: compact UTF-8 JSON.  ``form``: ``application/x-www-form-urlencoded``.
``xml``: one root element, a child element per key.  ``query`` (GET): the
same encoding as ``form``, sent as the URL's query string; those query
bytes are what is signed.

Nested values in form and query payloads use bracket keys
(``metadata[crmId]=...``, ``messages[0][role]=...``), as PHP, Rails and
most form parsers read them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, Literal
from urllib.parse import urlencode

from kafkahooks.delivery.request import encode_json
from kafkahooks.templating import TemplateError

__all__ = ["BodyFormat", "Encoder", "content_type", "encoder_for"]

BodyFormat = Literal["json", "form", "xml", "query"]
Encoder = Callable[[Any], bytes]

_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def _pairs(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _pairs(item, f"{prefix}[{key}]" if prefix else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _pairs(item, f"{prefix}[{index}]")
    else:
        yield prefix, _scalar(value)


def encode_form(payload: Any) -> bytes:
    if not isinstance(payload, dict):
        raise TemplateError("a form or query payload must render to a mapping")
    return urlencode(list(_pairs(payload, ""))).encode("ascii")


def _escape(text: str) -> str:
    """XML character data: ``&``, ``<`` and ``>`` escaped, as ``xml.sax.saxutils.escape``
    does (whose import pulls in ``urllib.request``: 8 ms of ``render``'s start-up)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _element(name: str, value: Any, out: list[str]) -> None:
    if not _XML_NAME.match(name):
        raise TemplateError(f"{name!r} is not an XML element name")
    if value is None or value == {} or value == []:
        out.append(f"<{name}/>")
        return
    out.append(f"<{name}>")
    if isinstance(value, dict):
        for key, item in value.items():
            _element(str(key), item, out)
    elif isinstance(value, list):
        for item in value:
            _element("item", item, out)
    else:
        out.append(_escape(_scalar(value)))
    out.append(f"</{name}>")


def xml_encoder(root: str) -> Encoder:
    def encode(payload: Any) -> bytes:
        out = ['<?xml version="1.0" encoding="UTF-8"?>']
        _element(root, payload, out)
        return "".join(out).encode("utf-8")

    return encode


def encoder_for(fmt: BodyFormat, xml_root: str = "webhook") -> Encoder:
    if fmt == "json":
        return encode_json
    if fmt == "xml":
        return xml_encoder(xml_root)
    return encode_form


def content_type(fmt: BodyFormat) -> str | None:
    return {
        "json": "application/json",
        "form": "application/x-www-form-urlencoded",
        "xml": "application/xml; charset=utf-8",
        "query": None,
    }[fmt]
