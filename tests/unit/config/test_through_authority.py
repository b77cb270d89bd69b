"""Origin-keyed caches: a URL cut after its authority reads as the same scheme and host.

The transport guard, the HTTP/1.1 client's destination and an endpoint's origin are
cached by ``through_authority(url)`` (one entry per origin, not per URL: 100,000
customer endpoints differ by path).  That is only right if ``urlsplit`` reads the
same scheme and netloc from the cut URL as from the whole one, for any spelling.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

import kafkahooks.delivery.guard as guard
from kafkahooks.config import through_authority
from kafkahooks.delivery.errors import PermanentDeliveryError
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.endpoints import Endpoint, origin_of

URLS = [
    "https://hooks.example.com/t/acct-1/0?token=abc#frag",
    "https://hooks.example.com",
    "https://hooks.example.com?x=1",
    "https://hooks.example.com#x",
    "https://user:pw@Hooks.Example.COM:8443/p//q",
    "http://127.0.0.1:8080/t/acct-000001/0",
    "http://[::1]:9000/x?y=//z",
    "HTTPS://HOST/",
    "https:///path-without-host",
    "https:/one-slash//then/more",
    "https:host//not-a-netloc/x",
    "//scheme-relative.example/x",
    "no-scheme//a/b:c",
    "  https://leading-space.example/x",
    "https://ta\tb.example/x\ty",
    "https:/\n/split-slashes.example/p//q/r",
    "https://h.example:99999/x",
    "https://h.example:port/x",
    "https://[::1/x",
    "mailto:someone@example.com?x=http://h/y",
    "https://h.example/a?b=c#d/e?f",
]


def _parts(url: str) -> tuple[str, str] | str:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"ValueError: {exc}"
    return parts.scheme, parts.netloc


@pytest.mark.parametrize("url", URLS)
def test_the_cut_url_has_the_same_scheme_and_authority(url: str) -> None:
    cut = through_authority(url)
    assert url.startswith(cut)
    assert _parts(cut) == _parts(url)


@pytest.mark.parametrize("url", URLS)
def test_origin_and_guard_answer_as_for_the_whole_url(url: str) -> None:
    def reference_origin(u: str) -> str:
        parts = urlsplit(u)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
        return f"{parts.scheme}://{host}{port}"

    def outcome(f: object, *args: object) -> object:
        try:
            return f(*args)  # type: ignore[operator]
        except Exception as exc:  # the same refusal, worded the same
            return f"{type(exc).__name__}: {exc}"

    assert outcome(origin_of, url) == outcome(reference_origin, url)
    assert outcome(guard.destination, url) == outcome(guard._destination.__wrapped__, url)
    strict, loose = guard.TargetPolicy(False, False), guard.TargetPolicy(True, True)
    for policy in (strict, loose):
        got = outcome(guard.check_url, url, policy)
        want = outcome(guard.check_authority.__wrapped__, url, policy)
        if url.lstrip().lower().startswith(("http:", "https:")):
            assert got == want
        else:  # no scheme: refused alike, the message naming less of the URL than before
            assert str(got).partition(":")[0] == str(want).partition(":")[0] == "TargetRefused"


def test_endpoints_with_distinct_paths_share_one_origin_entry() -> None:
    guard._destination.cache_clear()
    for i in range(3000):
        url = f"https://hooks.example.com/t/acct-{i:06d}/0?token=t{i}"
        assert origin_of(url) == "https://hooks.example.com"
        assert guard.destination(url).host == "hooks.example.com"
    assert guard._destination.cache_info().currsize == 1


def _reference_request_target(url: str) -> str:
    from urllib.parse import quote

    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return quote(path, safe="/?%:@!$&'()*+,;=")


REQUEST_URLS = [
    *URLS,
    "https://h.example/a b/ü?q=1 2",
    "https://h.example/p?",
    "https://h.example/p?#",
    "https://h.example?only=query",
    "https://h.example/x/\t/y?z=\n1",
    "https://h.example:443/p",
    "http://h.example:8080/p",
]


@pytest.mark.parametrize("url", REQUEST_URLS)
def test_the_request_line_and_host_are_those_of_the_whole_url(url: str) -> None:
    from kafkahooks.delivery.http1 import _target

    _target.cache_clear()
    try:
        got, path = _target(url)
    except PermanentDeliveryError as exc:  # refused as the whole URL's destination is
        with pytest.raises(guard.InvalidTarget, match=re.escape(str(exc))):
            guard._destination.__wrapped__(url)
        return
    assert path == _reference_request_target(url)
    where = guard._destination.__wrapped__(url)
    assert (got.host, got.port, got.tls) == (where.host, where.port, where.scheme == "https")


def _outcome(make: Callable[[], tuple[Any, str]]) -> tuple[Any, ...]:
    try:
        target, path = make()
    except PermanentDeliveryError as exc:
        return ("refused", str(exc))
    return (target, path)


@pytest.mark.parametrize("url", REQUEST_URLS)
def test_an_endpoint_request_goes_where_its_whole_url_says(url: str) -> None:
    """A customer endpoint's request brings the URL cut after its authority (the
    version's ``authority``): the sender's request line and destination are those of
    the whole URL, or it is refused alike."""
    from kafkahooks.delivery.http1 import _cut_target, _request_target, _target

    try:
        endpoint = Endpoint("ep_1", "acct-1", url, ())
    except ValueError:  # no origin (a bad port, a broken IPv6 literal): never stored
        with pytest.raises(ValueError):
            origin_of(url)
        return
    assert endpoint.authority == through_authority(url)
    whole = _outcome(lambda: _target.__wrapped__(url))
    assert _outcome(lambda: _cut_target(url, endpoint.authority)) == whole
    # as the sender takes it: the request brings the version's authority and, for a URL
    # sent as written, its request target too
    request = OutboundRequest(
        "POST", url, {}, b"", 1.0, authority=endpoint.authority, target=endpoint.target
    )
    assert _outcome(lambda: _request_target(request)) == whole


def test_endpoints_on_one_origin_share_one_authority_string() -> None:
    first, second = (
        Endpoint(f"ep_{i}", "acct-1", f"https://hooks.example.com/t/{i}?k={i}", ())
        for i in range(2)
    )
    assert first.authority == "https://hooks.example.com"
    assert first.authority is second.authority  # hashed once, wherever it is a key


def test_a_url_sent_as_written_brings_its_request_target_and_no_other_does() -> None:
    plain = Endpoint("ep_1", "acct-1", "https://hooks.example.com/t/a-1?k=v&x=%20", ())
    assert plain.target == "/t/a-1?k=v&x=%20"
    for url in (
        "https://hooks.example.com",  # no path: "/" is sent
        "https://hooks.example.com/t?",  # an empty query is dropped
        "https://hooks.example.com/t a",  # a space is quoted
        "https://hooks.example.com/t#frag",  # a fragment is never sent
    ):
        assert Endpoint("ep_1", "acct-1", url, ()).target is None, url
