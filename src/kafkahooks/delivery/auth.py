"""Endpoint auth as header providers: none, Basic, Bearer, OAuth2 client credentials.

A provider gives the headers for one request and hears about a 401.  Only
OAuth2 reacts to a 401: it drops the token that was refused (once, however
many concurrent requests saw the same 401) so the request can be sent once
more with a fresh one.  :func:`send_authorized` is that loop; the deliverer
calls it before taking any slot, so a token fetch holds no connection.

OAuth2 tokens are fetched through the deliveries' own HTTP/1.1 client
(:class:`~kafkahooks.delivery.http1.Http1Sender`): the route's transport
policy guards every address it connects to, no environment proxy is used,
``timeout`` is one deadline over the whole request, and at most 64 KiB of
the answer is read.  A token is cached until ``refresh_margin`` before it
expires (``expires_in`` is capped at a day) and fetched by one request at a
time: concurrent deliveries wait on one lock and share the one token, or the
one failure.  An error names the HTTP status and, from the body, only an
RFC 6749 error code: the token endpoint's words never reach a dead letter.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote_plus, urlencode

from kafkahooks.config import AuthConfig, OAuth2Auth
from kafkahooks.delivery.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    classify_status,
)
from kafkahooks.delivery.guard import TargetPolicy
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.sender import Response, Sender

__all__ = [
    "NO_AUTH",
    "OAUTH2_ERROR_CODES",
    "TOKEN_RESPONSE_LIMIT",
    "Auth",
    "OAuth2ClientCredentials",
    "StaticAuth",
    "auth_for",
    "send_authorized",
]

log = logging.getLogger("kafkahooks.auth")

TOKEN_RESPONSE_LIMIT = 64 * 1024
MAX_TOKEN_LIFETIME = 86_400.0  # a longer expires_in is read as a day
# RFC 6749 §5.2: the only words of a token endpoint's error body that are repeated
OAUTH2_ERROR_CODES = frozenset({
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
    "unsupported_grant_type", "invalid_scope",
})
_ACCESS_TOKEN = re.compile(r"[\x20-\x7e]{1,8192}")  # RFC 6749 A.12: 1*VSCHAR
_DIGITS = re.compile(r"[0-9]{1,20}")

SenderFactory = Callable[[], Sender]
Send = Callable[[OutboundRequest], Awaitable[Response]]


class Auth(Protocol):
    kind: str

    async def headers(self) -> dict[str, str]: ...

    async def rejected(self, used: Mapping[str, str]) -> bool:
        """A 401 answered a request sent with ``used``: is one more try worthwhile?"""
        ...


class StaticAuth:
    """No auth, or a fixed ``authorization`` header (Basic, Bearer)."""

    def __init__(self, kind: str, value: str | None = None) -> None:
        self.kind = kind
        self._headers = {} if value is None else {"authorization": value}

    async def headers(self) -> dict[str, str]:
        return self._headers

    async def rejected(self, used: Mapping[str, str]) -> bool:
        return False


NO_AUTH = StaticAuth("none")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _http1() -> Sender:
    # imported when a token is first fetched: compiling a route (``render``) does not
    # import the HTTP client
    from kafkahooks.delivery.http1 import Http1Sender

    return Http1Sender(max_connections=1)  # one fetch an hour or so: no pool kept


def _again(error: DeliveryError) -> DeliveryError:
    """A copy of ``error`` for another waiter (an exception is raised once)."""
    if isinstance(error, RetryableDeliveryError):
        return RetryableDeliveryError(error.reason, error.status, error.retry_after)
    return PermanentDeliveryError(error.reason, error.status)


class OAuth2ClientCredentials:
    kind = "oauth2"

    def __init__(
        self,
        config: OAuth2Auth,
        route: str = "",
        clock: Callable[[], float] = time.monotonic,
        policy: TargetPolicy | None = None,
        sender: SenderFactory = _http1,
    ) -> None:
        """``policy``: the route's transport policy (the token URL is guarded as its
        endpoint is); ``sender`` makes the client of one fetch (tests give a stub
        resolver)."""
        import asyncio  # here: compiling a route without OAuth2 (``render``) needs no asyncio

        self.config = config
        self.route = route
        self.policy = policy or TargetPolicy()
        self.fetches = 0
        self._clock = clock
        self._sender = sender
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self._round = 0  # fetches tried: a waiter sees whether one ran while it waited
        self._failure: DeliveryError | None = None
        self._tls: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(route={self.route!r}, token=********)"

    def _valid(self) -> bool:
        return self._token is not None and self._clock() < self._expires_at

    async def token(self) -> str:
        if not self._valid():
            seen = self._round
            async with self._lock:
                if not self._valid():  # another request may have fetched it meanwhile
                    if self._round != seen and self._failure is not None:
                        raise _again(self._failure)  # it failed: share the outcome
                    await self._fetch()
        assert self._token is not None
        return self._token

    async def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {await self.token()}"}

    async def rejected(self, used: Mapping[str, str]) -> bool:
        refused = used.get("authorization", "").removeprefix("Bearer ")
        if refused == self._token:  # only the first 401 of a burst drops it
            self._token = None
        return True

    # -- the token request -------------------------------------------------------
    def _request(self) -> OutboundRequest:
        c = self.config
        form = {"grant_type": "client_credentials",
                **{k: v.get_secret_value() for k, v in c.extra_params.items()}}
        if c.scope:
            form["scope"] = c.scope
        if c.audience:
            form["audience"] = c.audience
        headers = {"accept": "application/json",
                   "content-type": "application/x-www-form-urlencoded"}
        secret = c.client_secret.get_secret_value()
        if c.client_auth == "basic":  # RFC 6749 §2.3.1: form-encode, then Basic
            headers["authorization"] = _basic(quote_plus(c.client_id), quote_plus(secret))
        else:
            form.update(client_id=c.client_id, client_secret=secret)
        return OutboundRequest(
            "POST", c.token_url, headers, urlencode(form).encode("ascii"), c.timeout,
            policy=self.policy, ssl=self._context(), response_limit=TOKEN_RESPONSE_LIMIT,
        )

    def _context(self) -> ssl.SSLContext | None:
        if self.config.ca_bundle is not None and self._tls is None:
            self._tls = ssl.create_default_context(cafile=str(self.config.ca_bundle))
        return self._tls

    async def _fetch(self) -> None:
        self._round += 1
        try:
            await self._refresh()
        except DeliveryError as exc:
            self._failure = exc
            raise
        self._failure = None

    async def _refresh(self) -> None:
        request = self._request()
        started = self._clock()
        sender = self._sender()
        try:
            response = await sender.send(request)
        except RetryableDeliveryError as exc:
            raise RetryableDeliveryError(f"oauth2 token request: {exc.reason}") from None
        except DeliveryError as exc:  # the guard refused the address, a bad URL
            raise PermanentDeliveryError(f"oauth2 token request: {exc.reason}") from None
        finally:
            await sender.aclose()
        self.fetches += 1
        token, lifetime = _parse_token(response)
        margin = min(self.config.refresh_margin, lifetime / 10) if lifetime else 0.0
        self._token = token
        self._expires_at = started + lifetime - margin if lifetime else math.inf
        log.info("oauth2 token fetched", extra={"route": self.route, "expires_in": lifetime})


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, cut at the limit, nested too deep
        return {}
    return value if isinstance(value, dict) else {}


def _parse_token(response: Response) -> tuple[str, float]:
    """``(access_token, expires_in seconds or 0 when not given)``; errors name no secret
    and nothing the token endpoint wrote but an RFC 6749 error code."""
    body = _json_object(response.body)
    error = classify_status(response.status, response.retry_after)
    if error is not None:
        code = body.get("error")
        detail = f" {code}" if isinstance(code, str) and code in OAUTH2_ERROR_CODES else ""
        reason = f"oauth2 token request: HTTP {response.status}{detail}"
        if isinstance(error, RetryableDeliveryError):
            raise RetryableDeliveryError(reason, retry_after=error.retry_after)
        raise PermanentDeliveryError(reason)
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise PermanentDeliveryError("oauth2 token response has no access_token")
    if not _ACCESS_TOKEN.fullmatch(token):
        raise PermanentDeliveryError("oauth2 token response: access_token is not 1 to 8192 "
                                     "printable ASCII characters")
    return token, _lifetime(body.get("expires_in"))


def _lifetime(raw: Any) -> float:
    """Seconds from ``expires_in``: 0 when absent or unreadable, at most a day."""
    if isinstance(raw, str) and _DIGITS.fullmatch(raw.strip()):
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return 0.0
    if not raw > 0:  # also NaN
        return 0.0
    return float(min(raw, MAX_TOKEN_LIFETIME))  # an int beyond a float's range too


def auth_for(config: AuthConfig, route: str = "", policy: TargetPolicy | None = None) -> Auth:
    """``policy``: the route's transport policy, which the OAuth2 token URL obeys too."""
    if config.type == "basic":
        return StaticAuth("basic", _basic(config.username, config.password.get_secret_value()))
    if config.type == "bearer":
        return StaticAuth("bearer", f"Bearer {config.token.get_secret_value()}")
    if config.type == "oauth2":
        return OAuth2ClientCredentials(config, route, policy=policy)
    return NO_AUTH


async def send_authorized(send: Send, request: OutboundRequest, auth: Auth | None) -> Response:
    """Add ``auth``'s headers to ``request`` (fetching a token first if need be), then
    ``send`` it; after a 401, once more with fresh ones.  The request carries no auth of
    its own: the deliverer (or ``send-test``) passes the route's."""
    if auth is None or auth is NO_AUTH:
        return await send(request)
    used = await auth.headers()
    request.headers.update(used)
    response = await send(request)
    if response.status == 401 and await auth.rejected(used):
        request.headers.update(await auth.headers())
        response = await send(request)
    return response

