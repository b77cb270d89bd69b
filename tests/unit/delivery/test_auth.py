"""Endpoint auth: Basic, Bearer, OAuth2 client credentials (token endpoint on loopback)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import threading
from urllib.parse import parse_qsl

import pytest

from kafkahooks.config.endpoint import EndpointConfig, OAuth2Auth
from kafkahooks.delivery.auth import OAuth2ClientCredentials, auth_for, send_authorized
from kafkahooks.delivery.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from kafkahooks.delivery.guard import TargetPolicy
from kafkahooks.delivery.http1 import Http1Sender
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.sender import Response
from tests.support.receiver import Receiver, Reply, Request
from tests.support.resolver import LoopbackOnly, StubResolver

CLIENT_SECRET = "client-secret-value-9f2"
LOCAL = TargetPolicy(allow_insecure=True, allow_private=True)  # the token server is on loopback


def _oauth(url: str, **extra: object) -> OAuth2Auth:
    return OAuth2Auth.model_validate({
        "type": "oauth2", "token_url": url, "client_id": "hooks client",
        "client_secret": CLIENT_SECRET, "scope": "webhooks", "audience": "https://api.test",
        **extra,
    })


class TokenServer(Receiver):
    def __init__(self, expires_in: int | None = 3600, status: int = 200) -> None:
        self.issued = 0
        self.expires_in = expires_in
        self.status = status
        super().__init__(self._token)

    def _token(self, _: Request) -> Reply:
        if self.status != 200:
            return Reply(self.status, body=b'{"error":"invalid_client","error_description":"x"}')
        self.issued += 1
        body: dict[str, object] = {"access_token": f"tok-{self.issued}", "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return Reply(200, body=json.dumps(body).encode())


@pytest.fixture
def tokens() -> TokenServer:
    server = TokenServer()
    yield server  # type: ignore[misc]
    server.close()


def test_basic_and_bearer_headers() -> None:
    basic = EndpointConfig.model_validate(
        {"url": "https://h.test", "auth": {"type": "basic", "username": "u", "password": "p w"}})
    bearer = EndpointConfig.model_validate(
        {"url": "https://h.test", "auth": {"type": "bearer", "token": "t0k"}})
    expected = "Basic " + base64.b64encode(b"u:p w").decode()
    assert asyncio.run(auth_for(basic.auth).headers()) == {"authorization": expected}
    assert asyncio.run(auth_for(bearer.auth).headers()) == {"authorization": "Bearer t0k"}
    assert "p w" not in repr(basic) and "t0k" not in repr(bearer)


def test_token_request_is_client_credentials_with_basic_client_auth(tokens: TokenServer) -> None:
    provider = OAuth2ClientCredentials(_oauth(tokens.url), policy=LOCAL)
    assert asyncio.run(provider.headers()) == {"authorization": "Bearer tok-1"}
    sent = tokens.requests[0]
    assert sent.method == "POST"
    assert dict(parse_qsl(sent.body.decode())) == {
        "grant_type": "client_credentials", "scope": "webhooks", "audience": "https://api.test"}
    user, _, password = base64.b64decode(sent.headers["authorization"].split()[1]).partition(b":")
    assert (user, password) == (b"hooks+client", CLIENT_SECRET.encode())


def test_client_auth_post_puts_credentials_in_the_form(tokens: TokenServer) -> None:
    asyncio.run(
        OAuth2ClientCredentials(_oauth(tokens.url, client_auth="post"), policy=LOCAL).token())
    form = dict(parse_qsl(tokens.requests[0].body.decode()))
    assert form["client_id"] == "hooks client" and form["client_secret"] == CLIENT_SECRET
    assert "authorization" not in tokens.requests[0].headers


def test_concurrent_requests_share_one_token_fetch(tokens: TokenServer) -> None:
    provider = OAuth2ClientCredentials(_oauth(tokens.url), policy=LOCAL)

    async def many() -> set[str]:
        return set(await asyncio.gather(*(provider.token() for _ in range(50))))

    assert asyncio.run(many()) == {"tok-1"}
    assert tokens.issued == 1


def test_token_is_renewed_shortly_before_expiry(tokens: TokenServer) -> None:
    now = [1000.0]
    tokens.expires_in = 600
    provider = OAuth2ClientCredentials(
        _oauth(tokens.url, refresh_margin=30), policy=LOCAL, clock=lambda: now[0])
    assert asyncio.run(provider.token()) == "tok-1"
    now[0] += 569  # before expiry minus margin: still cached
    assert asyncio.run(provider.token()) == "tok-1"
    now[0] += 2  # inside the margin: renewed
    assert asyncio.run(provider.token()) == "tok-2"
    assert tokens.issued == 2


class FakeSender:
    """Answers 401 to any token in ``revoked``."""

    def __init__(self, revoked: set[str]) -> None:
        self.revoked = revoked
        self.seen: list[str] = []

    async def send(self, request: OutboundRequest) -> Response:
        await asyncio.sleep(0.01)
        token = request.headers["authorization"].removeprefix("Bearer ")
        self.seen.append(token)
        return Response(401 if token in self.revoked else 200)

    async def aclose(self) -> None:
        pass


def test_a_401_refreshes_the_token_once_for_a_burst(tokens: TokenServer) -> None:
    provider = OAuth2ClientCredentials(_oauth(tokens.url), policy=LOCAL)
    sender = FakeSender(revoked={"tok-1"})

    async def burst() -> list[int]:
        await provider.token()
        requests = [OutboundRequest("POST", "https://h.test", {}, b"", 1) for _ in range(20)]
        return [r.status for r in await asyncio.gather(
            *(send_authorized(sender.send, req, provider) for req in requests))]

    assert asyncio.run(burst()) == [200] * 20
    assert tokens.issued == 2  # the first token, and one refresh for all twenty 401s
    assert sender.seen.count("tok-2") == 20


def test_a_second_401_is_returned_not_retried_forever(tokens: TokenServer) -> None:
    provider = OAuth2ClientCredentials(_oauth(tokens.url), policy=LOCAL)
    sender = FakeSender(revoked={"tok-1", "tok-2", "tok-3"})
    request = OutboundRequest("POST", "https://h.test", {}, b"", 1)
    assert asyncio.run(send_authorized(sender.send, request, provider)).status == 401
    assert sender.seen == ["tok-1", "tok-2"]


@pytest.mark.parametrize(("status", "error"), [(401, PermanentDeliveryError),
                                               (400, PermanentDeliveryError),
                                               (503, RetryableDeliveryError)])
def test_token_endpoint_errors_are_classified_without_secrets(
    status: int, error: type[Exception]
) -> None:
    server = TokenServer(status=status)
    try:
        with pytest.raises(error) as caught:
            asyncio.run(OAuth2ClientCredentials(_oauth(server.url), policy=LOCAL).token())
    finally:
        server.close()
    message = str(caught.value)
    assert f"HTTP {status} invalid_client" in message
    assert CLIENT_SECRET not in message


def test_unreachable_token_endpoint_is_retryable(tokens: TokenServer) -> None:
    url = tokens.url
    tokens.close()
    with pytest.raises(RetryableDeliveryError, match="oauth2 token request"):
        asyncio.run(OAuth2ClientCredentials(_oauth(url, timeout=2), policy=LOCAL).token())


# -- the token fetch is a delivery like any other (issue 11, section 4) ---------------------

class ScriptedTokens(Receiver):
    """Answers every token request with ``reply``."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(lambda _: reply)


def _fetch(url: str, **extra: object) -> str:
    return asyncio.run(OAuth2ClientCredentials(_oauth(url, **extra), policy=LOCAL).token())


def _refusal(reply: Reply) -> DeliveryError:
    server = ScriptedTokens(reply)
    try:
        with pytest.raises(DeliveryError) as caught:
            _fetch(server.url)
    finally:
        server.close()
    return caught.value


@pytest.mark.parametrize(("body", "shown"), [
    (b'{"error":"invalid_grant"}', "oauth2 token request: HTTP 400 invalid_grant"),
    (b'{"error":"invalid_scope","error_description":"internal: db=10.0.0.5"}',
     "oauth2 token request: HTTP 400 invalid_scope"),
    (b'{"error":"root:x:0:0:root:/root:/bin/bash"}', "oauth2 token request: HTTP 400"),
    (b'<html>internal admin page</html>', "oauth2 token request: HTTP 400"),
])
def test_only_rfc_6749_error_codes_of_a_token_endpoint_reach_the_reason(
    body: bytes, shown: str
) -> None:
    error = _refusal(Reply(400, body=body))
    assert isinstance(error, PermanentDeliveryError)
    assert error.reason == shown


def test_a_token_endpoints_retry_after_with_a_20_digit_year_is_a_retryable_error() -> None:
    far = "Wed, 21 Oct 99999999999999999999 07:28:00 GMT"
    error = _refusal(Reply(503, headers={"retry-after": far}, body=b"{}"))
    assert isinstance(error, RetryableDeliveryError)
    assert error.retry_after == float("inf")  # the route's retry_after_cap applies


def test_a_huge_expires_in_is_read_as_a_day() -> None:
    now = [0.0]
    server = ScriptedTokens(Reply(200, body=b'{"access_token":"t","expires_in":' +
                                  b"9" * 400 + b"}"))
    try:
        provider = OAuth2ClientCredentials(_oauth(server.url), policy=LOCAL,
                                           clock=lambda: now[0])
        assert asyncio.run(provider.token()) == "t"
        now[0] = 86_400 - 31  # before a day minus the margin: cached
        assert asyncio.run(provider.token()) == "t"
        assert len(server.requests) == 1
        now[0] = 86_400  # a day later: fetched again
        asyncio.run(provider.token())
        assert len(server.requests) == 2
    finally:
        server.close()


def test_extra_params_are_secret_in_the_config_and_sent_in_the_form(tokens: TokenServer) -> None:
    config = _oauth(tokens.url, extra_params={"resource": "api-key-in-form-77"})
    assert "api-key-in-form-77" not in repr(config) and "api-key-in-form-77" not in str(config)
    asyncio.run(OAuth2ClientCredentials(config, policy=LOCAL).token())
    assert dict(parse_qsl(tokens.requests[0].body.decode()))["resource"] == "api-key-in-form-77"


def test_a_token_url_resolving_to_an_internal_address_is_refused_before_connecting() -> None:
    """The client secret is never sent to a name that resolves to an internal address
    (a stub resolver answers; nothing leaves loopback)."""
    resolver, sockets = StubResolver("10.0.0.7"), LoopbackOnly()
    provider = OAuth2ClientCredentials(
        _oauth("https://auth.internal.test/oauth/token"), policy=TargetPolicy(),
        sender=lambda: Http1Sender(resolver=resolver, socket_factory=sockets))
    with pytest.raises(PermanentDeliveryError) as caught:
        asyncio.run(provider.token())
    assert caught.value.reason.startswith(
        "oauth2 token request: target auth.internal.test (10.0.0.7) is a private address")
    assert resolver.lookups == ["auth.internal.test"]
    assert sockets.opened == []


def test_the_token_request_goes_through_the_guarded_client_with_a_capped_answer() -> None:
    seen: list[OutboundRequest] = []

    class Capture:
        async def send(self, request: OutboundRequest) -> Response:
            seen.append(request)
            return Response(200, body=b'{"access_token":"t"}')

        async def aclose(self) -> None:
            pass

    policy = TargetPolicy(allow_insecure=False, allow_private=True)
    provider = OAuth2ClientCredentials(_oauth("https://auth.test/token", timeout=3),
                                       policy=policy, sender=Capture)
    assert asyncio.run(provider.token()) == "t"
    (request,) = seen
    assert (request.method, request.url, request.timeout) == ("POST", "https://auth.test/token", 3)
    assert request.policy == policy  # the route's transport policy
    assert request.response_limit == 64 * 1024
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert CLIENT_SECRET not in repr(request)


def test_environment_proxies_are_not_used_for_the_token_request(
    tokens: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ScriptedTokens(Reply(200, body=b'{"access_token":"from-the-proxy"}'))
    try:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert _fetch(tokens.url) == "tok-1"
    finally:
        proxy.close()
    assert proxy.requests == []


class Trickle:
    """A token endpoint that answers one byte every 50 ms: a valid answer, after ~5 s."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/token"
        self._closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self._sock.accept()
            with conn:
                conn.recv(65536)
                body = b'{"access_token":"late"}' + b" " * 77
                answer = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
                for byte in answer:
                    if self._closed.wait(0.05):
                        return
                    conn.sendall(bytes([byte]))

    def close(self) -> None:
        self._closed.set()
        self._sock.close()


def test_the_token_timeout_is_one_deadline_over_the_whole_request() -> None:
    server = Trickle()
    try:
        with pytest.raises(RetryableDeliveryError) as caught:
            _fetch(server.url, timeout=1)
    finally:
        server.close()
    assert caught.value.reason == "oauth2 token request: TimeoutError: no response"
