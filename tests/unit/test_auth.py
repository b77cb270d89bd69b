"""Endpoint auth: Basic, Bearer, OAuth2 client credentials (token endpoint on loopback)."""

from __future__ import annotations

import asyncio
import base64
import json
from urllib.parse import parse_qsl

import pytest

from kafkahooks.config.endpoint import EndpointConfig, OAuth2Auth
from kafkahooks.delivery.auth import OAuth2ClientCredentials, auth_for, send_authorized
from kafkahooks.delivery.errors import PermanentDeliveryError, RetryableDeliveryError
from kafkahooks.delivery.guard import TargetPolicy
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.sender import Response
from tests.support.receiver import Receiver, Reply, Request

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
        requests = [OutboundRequest("POST", "https://h.test", {}, b"", 1, auth=provider)
                    for _ in range(20)]
        return [r.status for r in await asyncio.gather(
            *(send_authorized(sender.send, req) for req in requests))]

    assert asyncio.run(burst()) == [200] * 20
    assert tokens.issued == 2  # the first token, and one refresh for all twenty 401s
    assert sender.seen.count("tok-2") == 20


def test_a_second_401_is_returned_not_retried_forever(tokens: TokenServer) -> None:
    provider = OAuth2ClientCredentials(_oauth(tokens.url), policy=LOCAL)
    sender = FakeSender(revoked={"tok-1", "tok-2", "tok-3"})
    request = OutboundRequest("POST", "https://h.test", {}, b"", 1, auth=provider)
    assert asyncio.run(send_authorized(sender.send, request)).status == 401
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
