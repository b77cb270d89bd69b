"""``render``, ``send-test`` and ``secret generate``: look at one route's request.

``render`` prints the request a route would send for an event, without
sending it.  ``send-test`` sends it once through the full path (template,
auth, signature, transport checks) to the real endpoint and prints the
request and the response: the "test your endpoint before deploying" step.
Secret values never reach the output: secret headers and ``authorization``
are masked, and any configured secret that still shows up is replaced.  URLs
are printed with query values and the parts that came from ``${VAR}`` masked
(config/urls.py).  What is printed is escaped: a receiver's answer (or an
event) cannot send ANSI sequences or other control characters to the
operator's terminal.
"""

from __future__ import annotations

import argparse
import base64
import re
import secrets
import sys
import time
import unicodedata
from typing import TYPE_CHECKING, Any, TextIO

from kafkahooks.cli.common import usage_error

if TYPE_CHECKING:
    from kafkahooks.config import RouteConfig
    from kafkahooks.delivery import OutboundRequest, Response, Route
    from kafkahooks.event import Event
    from kafkahooks.templating import RenderContext

# The routes file, the delivery code and the HTTP client are imported by the commands
# that use them, not here: ``secret generate`` starts without them.

__all__ = [
    "MASK",
    "cmd_render",
    "cmd_secret",
    "cmd_send_test",
    "escape_terminal",
    "generate_secret",
    "route_secrets",
]

MASK = "********"
# what a terminal could act on: C0 and C1 controls, DEL, format characters (bidi
# overrides), surrogates, private use; line feed and tab are kept
_UNPRINTABLE = re.compile(r"[^\n\t\x20-\x7e\xa0-\u05ff]")


def escape_terminal(text: str) -> str:
    """``text`` with every character a terminal could act on written as an escape."""
    return _UNPRINTABLE.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def route_secrets(config: RouteConfig) -> list[str]:
    """Every secret value a route holds (to keep them out of any output)."""
    from pydantic import SecretStr

    found: list[SecretStr] = []
    if config.signing is not None:
        found += config.signing.secrets
    if config.endpoint is None:  # customer endpoints: their secrets are not in the file
        return [s.get_secret_value() for s in found if s.get_secret_value()]
    found += config.endpoint.secret_headers.values()
    auth = config.endpoint.auth
    for name in ("password", "token", "client_secret"):
        value = getattr(auth, name, None)
        if isinstance(value, SecretStr):
            found.append(value)
    if auth.type == "oauth2":
        found += auth.extra_params.values()
    tls = config.endpoint.tls
    if tls is not None and tls.client_key_password is not None:
        found.append(tls.client_key_password)
    return [s.get_secret_value() for s in found if s.get_secret_value()]


def pick_event(route: Route, event_type: str | None, event_file: str | None) -> Event:
    """The ``--event`` file, else the first built-in sample of ``--event-type``
    (or, without it, the first sample the route takes)."""
    from kafkahooks.delivery import NoSampleError, sample_event
    from kafkahooks.samples import event_from_path

    if event_file is not None:
        return event_from_path(event_file, route.config.topics[0])
    try:
        return sample_event(route, event_type)
    except NoSampleError as exc:
        usage_error(no_sample_message(route, event_type, exc.types))


def no_sample_message(route: Route, event_type: str | None, types: list[Any]) -> str:
    """Why no built-in sample fits, what there is instead, and how to pass an event."""
    wanted = f"of type {event_type!r}" if event_type else "that this route takes"
    known = sorted({str(t) for t in types if t is not None})
    if known:
        there = f"the built-in samples have types {', '.join(known)} (--event-type TYPE)"
    else:
        there = (
            f"no built-in sample has a type at this route's event_type path "
            f"({route.config.event_type})"
        )
    return (
        f"route {route.name}: no built-in sample event {wanted}; {there}. "
        f"Give an event of your own with --event FILE.json (the value, or an envelope "
        f'{{"value": ..., "key": ..., "headers": {{...}}}}).'
    )


# ``render`` of a route with ``endpoints:``: the request as it would go to a customer
# endpoint, shown with this stand-in (no real endpoint, no real secret)
PLACEHOLDER_URL = "https://tenant-endpoint.invalid/webhook"
PLACEHOLDER_SECRET = "whsec_" + base64.b64encode(b"placeholder-secret-not-a-real-one").decode()


def _build(route: Route, event: Event) -> tuple[bool, OutboundRequest]:
    taken, etype = route.match(event)
    ctx = route.context(event, etype)
    ctx.sent_at = time.time()
    if route.template.pick(etype) is None:
        usage_error(f"route {route.name} has no template for event type {etype!r}")
    if route.targets is not None:
        return taken, _placeholder_request(route, ctx)
    return taken, route.build(ctx, route.render_body(ctx), ctx.sent_at)


def _placeholder_request(route: Route, ctx: RenderContext) -> OutboundRequest:
    """A tenant route's request to a placeholder endpoint (it has no fixed one)."""
    from pydantic import SecretStr

    from kafkahooks.endpoints import Endpoint, SigningSecret

    assert route.targets is not None
    endpoint = Endpoint(
        id="ep_placeholder",
        tenant="placeholder",
        url=PLACEHOLDER_URL,
        secrets=(SigningSecret(SecretStr(PLACEHOLDER_SECRET)),),
    )
    ctx.endpoint_id = endpoint.id
    ctx.payload_version = route.targets.version(endpoint)
    return route.targets.request(endpoint, ctx, route.render_body(ctx), ctx.sent_at)


class _Printer:
    """Writes lines with every secret value and secret header masked."""

    def __init__(self, route: Route, out: TextIO) -> None:
        config = route.config
        self.out = out
        self.endpoint = config.endpoint
        secret = config.endpoint.secret_headers if config.endpoint is not None else {}
        self.secret_names = {k.lower() for k in secret}
        self.secret_names |= {"authorization", "proxy-authorization"}
        values = route_secrets(config)
        # Basic credentials appear base64-encoded in a header; hide that form too.
        auth = config.endpoint.auth if config.endpoint is not None else None
        if auth is not None and auth.type == "basic":
            pair = f"{auth.username}:{auth.password.get_secret_value()}"
            values.append(base64.b64encode(pair.encode()).decode())
        # (1-3 character "secrets" would mask half the text and protect nothing)
        self.values = sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)

    def line(self, text: str = "") -> None:
        for value in self.values:
            text = text.replace(value, MASK)
        print(escape_terminal(text), file=self.out)

    def request(self, request: OutboundRequest, shown_body: bytes) -> None:
        if self.endpoint is None:
            self.line("# route with endpoints: shown for a placeholder endpoint and secret; "
                      "each tenant's endpoint gets its own URL, headers and signature")
            self.line(f"{request.method} {request.url}")
        else:
            self.line(f"{request.method} {self.endpoint.shown(request.url)}")
        for name, value in request.headers.items():
            self.line(f"{name}: {MASK if name.lower() in self.secret_names else value}")
        self.line()
        if shown_body:
            self.line(shown_body.decode("utf-8", "replace"))

    def response(self, response: Response, elapsed: float) -> None:
        self.line(f"← HTTP {response.status} in {elapsed * 1000:.0f} ms")
        if response.body:
            self.line(response.body.decode("utf-8", "replace"))


def _compiled(args: argparse.Namespace, *, checked: bool) -> Route:
    """``checked``: the transport policy too (``send-test`` sends; ``render`` does not, so
    its route is compiled without reading the process settings: the policy a route holds
    is consulted only when connecting)."""
    from kafkahooks.cli.common import allow_local_switch, load_or_exit, route_or_exit
    from kafkahooks.delivery import compile_route
    from kafkahooks.endpoints import MemoryDirectory

    allow_local = allow_local_switch() if checked else False
    config = load_or_exit(args.config, allow_local if checked else None)
    route = route_or_exit(config, args.route, args.config)
    if checked and route.endpoints is not None:
        usage_error(
            f"route {route.name} has no fixed endpoint: it delivers to each tenant's "
            "endpoints (endpoints:); test a customer endpoint with the endpoint commands"
        )
    # render shows a tenant route's request for a placeholder endpoint (``_build``)
    return compile_route(route, allow_local, directory=MemoryDirectory())


def _prepare(
    args: argparse.Namespace, *, checked: bool, filtered_note: str
) -> tuple[Route, OutboundRequest, _Printer]:
    """The route, the request it would send for the chosen event, and a printer."""
    route = _compiled(args, checked=checked)
    taken, request = _build(route, pick_event(route, args.event_type, args.event))
    printer = _Printer(route, sys.stdout)
    if not taken:
        printer.line(f"# note: route {route.name} would filter this event out{filtered_note}")
    return route, request, printer


def cmd_render(args: argparse.Namespace) -> int:
    from kafkahooks.cli.common import warn_samples

    route, request, printer = _prepare(args, checked=False, filtered_note="")
    warn_samples([route.config], args.config)
    if route.auth is not None:
        request.headers["authorization"] = MASK  # added per attempt when sending
    printer.request(request, request.body)
    return 0


async def _send_once(route: Route, request: OutboundRequest) -> tuple[Response, float]:
    from kafkahooks.delivery import Http1Sender, send_authorized

    sender = Http1Sender(max_connections=4)
    started = time.monotonic()
    try:
        response = await send_authorized(sender.send, request, route.auth)
    finally:
        await sender.aclose()
    return response, time.monotonic() - started


def cmd_send_test(args: argparse.Namespace) -> int:
    import asyncio

    from kafkahooks.delivery import DeliveryError

    route, request, printer = _prepare(args, checked=True, filtered_note="; sending anyway")
    try:
        response, elapsed = asyncio.run(_send_once(route, request))
    except DeliveryError as exc:
        printer.request(request, request.body)
        printer.line(f"← not delivered: {exc.reason}")
        return 1
    printer.request(request, request.body)
    printer.response(response, elapsed)
    return 0 if 200 <= response.status < 300 else 1


def generate_secret(fmt: str = "hex", size: int = 32) -> str:
    """A new random secret: ``whsec_`` + base64 (Standard Webhooks) or hex."""
    raw = secrets.token_bytes(size)
    if fmt == "whsec":
        return "whsec_" + base64.b64encode(raw).decode("ascii")
    return raw.hex()


def cmd_secret(args: argparse.Namespace) -> int:
    print(generate_secret(args.format, args.bytes))
    return 0


def add_commands(sub: Any) -> None:
    """Register ``render``, ``send-test`` and ``secret`` on the CLI's sub-parsers."""
    for name, func, text in (
        ("render", cmd_render, "print the request a route would send for an event"),
        ("send-test", cmd_send_test, "send one sample event to a route's real endpoint"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--config", required=True)
        command.add_argument("--route", required=True)
        which = command.add_mutually_exclusive_group()
        which.add_argument("--event-type", help="a built-in sample event of this type")
        which.add_argument("--event", help="JSON file: the value, or an envelope")
        command.set_defaults(func=func)

    secret = sub.add_parser("secret", help="signing secrets")
    secret_sub = secret.add_subparsers(dest="secret_command", required=True)
    generate = secret_sub.add_parser("generate", help="print a new strong random secret")
    generate.add_argument("--format", choices=["hex", "whsec"], default="hex",
                          help="hex (HMAC schemes) or whsec (Standard Webhooks)")
    generate.add_argument("--bytes", type=int, default=32, choices=range(24, 65),
                          metavar="24..64", help="random bytes (default 32)")
    generate.set_defaults(func=cmd_secret)
