"""Endpoint auth as header providers: none, Basic, Bearer, OAuth2 client credentials.

A provider gives the headers for one request and hears about a 401.  Only
OAuth2 reacts to a 401: it drops the token that was refused (once, however
many concurrent requests saw the same 401) so the request can be sent once
more with a fresh one.  :func:`send_authorized` is that loop.

OAuth2 tokens are fetched with httpx (rare, off the hot path), cached until
``refresh_margin`` before they expire, and fetched by one request at a time:
concurrent deliveries wait on one lock and share the one token.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote_plus

import httpx

from kafkahooks.config.endpoint import AuthConfig, OAuth2Auth
from kafkahooks.delivery.errors import (
    PermanentDeliveryError,
    RetryableDeliveryError,
    classify_status,
)
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.sender import Response, Sender

__all__ = [
    "NO_AUTH",
    "Auth",
    "OAuth2ClientCredentials",
    "StaticAuth",
    "auth_for",
    "send_authorized",
]

log = logging.getLogger("kafkahooks.auth")


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


class OAuth2ClientCredentials:
    kind = "oauth2"

    def __init__(
        self,
        config: OAuth2Auth,
        route: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.route = route
        self.fetches = 0
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def _valid(self) -> bool:
        return self._token is not None and self._clock() < self._expires_at

    async def token(self) -> str:
        if not self._valid():
            async with self._lock:
                if not self._valid():  # another request may have fetched it meanwhile
                    await self._refresh()
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
    def _form(self) -> tuple[dict[str, str], dict[str, str]]:
        c = self.config
        form = {"grant_type": "client_credentials", **c.extra_params}
        if c.scope:
            form["scope"] = c.scope
        if c.audience:
            form["audience"] = c.audience
        headers = {"accept": "application/json"}
        secret = c.client_secret.get_secret_value()
        if c.client_auth == "basic":  # RFC 6749 §2.3.1: form-encode, then Basic
            headers["authorization"] = _basic(quote_plus(c.client_id), quote_plus(secret))
        else:
            form.update(client_id=c.client_id, client_secret=secret)
        return form, headers

    def _verify(self) -> ssl.SSLContext | bool:
        if self.config.ca_bundle is None:
            return True
        return ssl.create_default_context(cafile=str(self.config.ca_bundle))

    async def _refresh(self) -> None:
        form, headers = self._form()
        started = self._clock()
        try:
            async with httpx.AsyncClient(
                verify=self._verify(), follow_redirects=False, timeout=self.config.timeout
            ) as client:
                response = await client.post(self.config.token_url, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryableDeliveryError(f"oauth2 token request: {type(exc).__name__}") from None
        self.fetches += 1
        token, lifetime = _parse_token(response)
        margin = min(self.config.refresh_margin, lifetime / 10) if lifetime else 0.0
        self._token = token
        self._expires_at = started + lifetime - margin if lifetime else float("inf")
        log.info("oauth2 token fetched", extra={"route": self.route, "expires_in": lifetime})


def _parse_token(response: httpx.Response) -> tuple[str, float]:
    """``(access_token, expires_in seconds or 0 when not given)``; errors name no secret."""
    error = classify_status(response.status_code, response.headers.get("retry-after"))
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    if error is not None:
        code = body.get("error") if isinstance(body, dict) else None
        detail = f" {code}" if isinstance(code, str) and code.isascii() else ""
        reason = f"oauth2 token request: HTTP {response.status_code}{detail[:80]}"
        if isinstance(error, RetryableDeliveryError):
            raise RetryableDeliveryError(reason, retry_after=error.retry_after)
        raise PermanentDeliveryError(reason)
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise PermanentDeliveryError("oauth2 token response has no access_token")
    try:
        lifetime = float(body.get("expires_in") or 0)
    except (TypeError, ValueError):
        lifetime = 0.0
    return token, max(lifetime, 0.0)


def auth_for(config: AuthConfig, route: str = "") -> Auth:
    if config.type == "basic":
        return StaticAuth("basic", _basic(config.username, config.password.get_secret_value()))
    if config.type == "bearer":
        return StaticAuth("bearer", f"Bearer {config.token.get_secret_value()}")
    if config.type == "oauth2":
        return OAuth2ClientCredentials(config, route)
    return NO_AUTH


async def send_authorized(sender: Sender, request: OutboundRequest) -> Response:
    """Add the request's auth headers and send; after a 401, once more with fresh ones."""
    auth = request.auth
    if auth is None or auth is NO_AUTH:
        return await sender.send(request)
    used = await auth.headers()
    request.headers.update(used)
    response = await sender.send(request)
    if response.status == 401 and await auth.rejected(used):
        request.headers.update(await auth.headers())
        response = await sender.send(request)
    return response

