"""Transport safety: address categories, URL checks, and the guarded connector.

No packet leaves loopback here: names are resolved by a stub resolver, and
the connector's socket factory refuses anything but 127.0.0.1 as a safety
net should the guard ever let an address through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kafkahooks.cli.main import main
from kafkahooks.config import parse_config
from kafkahooks.delivery.errors import PermanentDeliveryError
from kafkahooks.delivery.guard import (
    InvalidTarget,
    TargetPolicy,
    TargetRefused,
    address_category,
    check_url,
    normalize_host,
    route_problems,
    transport_problems,
)
from kafkahooks.delivery.http1 import Http1Sender
from kafkahooks.delivery.request import OutboundRequest
from kafkahooks.delivery.route import RouteTable
from kafkahooks.delivery.sender import Sender
from tests.support.receiver import Receiver
from tests.support.resolver import LoopbackOnly, StubResolver


@pytest.mark.parametrize(("address", "category"), [
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.20", "private"),
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("169.254.10.10", "link-local"),
    ("fe80::1", "link-local"),
    ("169.254.169.254", "cloud-metadata"),
    ("fd00:ec2::254", "cloud-metadata"),
    ("100.100.100.200", "cloud-metadata"),
    ("::ffff:10.0.0.1", "private"),
    ("64:ff9b::a9fe:a9fe", "cloud-metadata"),
    ("0.0.0.0", "unspecified"),
    ("100.64.0.1", "reserved"),
    ("fc00::5", "private"),
    ("93.184.215.14", None),
    ("2606:4700::1111", None),
    # IPv6 forms that carry an IPv4 address: classified by it, or as non-public
    ("::127.0.0.1", "loopback"),
    ("::ffff:0:127.0.0.1", "loopback"),
    ("::ffff:0:a9fe:a9fe", "cloud-metadata"),
    ("2002:7f00:1::1", "loopback"),
    ("2002:a00:1::", "private"),
    ("64:ff9b::7f00:1", "loopback"),
    ("64:ff9b:1::7f00:1", "private"),
    ("64:ff9b:1:ff00::8", "private"),
    ("fec0::1", "private"),
    ("::", "unspecified"),
    ("2002:808:808::1", None),
    ("64:ff9b::808:808", None),
])
def test_address_categories(address: str, category: str | None) -> None:
    assert address_category(address) == category


@pytest.mark.parametrize(("host", "normal"), [
    ("Hooks.Example.COM", "hooks.example.com"),
    ("hooks.example.com.", "hooks.example.com"),
    ("my_host.example.com", "my_host.example.com"),  # ASCII: no IDNA validity check
    ("xn--zz.example", "xn--zz.example"),
    ("straße.de", "xn--strae-oqa.de"),  # non-transitional: not strasse.de
    ("Bücher.example", "xn--bcher-kva.example"),
    ("☃.example", "xn--n3h.example"),  # WHATWG takes symbols IDNA2008 refuses
    ("ｅｘａｍｐｌｅ。ｃｏｍ", "example.com"),
    ("a-.example", "a-.example"),  # CheckHyphens off
    ("2130706433", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0x7F.0.0.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),
    ("１２７.０.０.１", "127.0.0.1"),
    ("127。0。0。1", "127.0.0.1"),
    ("①②⑦.0.0.1", "127.0.0.1"),
    ("０ｘ７ｆ．１", "127.0.0.1"),
    ("4294967295", "255.255.255.255"),
    ("::FFFF:127.0.0.1", "::ffff:7f00:1"),
])
def test_one_spelling_of_a_host(host: str, normal: str) -> None:
    assert normalize_host(host) == normal


@pytest.mark.parametrize("host", [
    "1.2.3.4.5", "4294967296", "256.0.0.1", "1.2.0x100.3", "foo.123", "foo.0x1",
    "exa mple.com", "a％b.com", "a／b.com", "fe80::1%eth0", "straße.xn--a", "\u0301a.example",
    "", ".",
])
def test_a_host_no_url_parser_accepts_is_invalid(host: str) -> None:
    with pytest.raises(InvalidTarget):
        normalize_host(host)


def test_plain_http_is_refused_unless_allowed() -> None:
    with pytest.raises(TargetRefused, match="plain http:// target refused"):
        check_url("http://hooks.example.test/x", TargetPolicy())
    check_url("http://hooks.example.test/x", TargetPolicy(allow_insecure=True))
    check_url("https://hooks.example.test/x", TargetPolicy())


def test_literal_private_ip_is_refused_unless_allowed() -> None:
    with pytest.raises(TargetRefused, match="cloud-metadata"):
        check_url("https://169.254.169.254/latest", TargetPolicy())
    with pytest.raises(TargetRefused, match="loopback"):
        check_url("https://[::1]:8443/x", TargetPolicy())
    check_url("https://10.0.0.1/x", TargetPolicy(allow_private=True))


ROUTES = """
kafka: {bootstrap_servers: "localhost:9092"}
routes:
  - name: plain
    topics: [t]
    template: {a: 1}
    endpoint: {url: "http://hooks.example.test/"}
  - name: metadata
    topics: [t]
    template: {a: 1}
    endpoint: {url: "https://169.254.169.254/"}
  - name: token
    topics: [t]
    template: {a: 1}
    endpoint:
      url: "https://hooks.example.test/"
      auth: {type: oauth2, token_url: "http://idp.example.test/t", client_id: c,
             client_secret: s}
  - name: opted-in
    topics: [t]
    template: {a: 1}
    endpoint: {url: "http://10.0.0.8/", allow_insecure: true, allow_private: true}
  - name: inactive
    active: false
    topics: [t]
    template: {a: 1}
    endpoint: {url: "http://10.0.0.9/"}
"""


def test_config_check_names_route_and_field() -> None:
    config = parse_config(ROUTES, "r.yaml", {})
    problems = transport_problems(config, allow_local=False)
    assert len(problems) == 3
    assert problems[0].startswith("route 'plain' → endpoint.url: plain http:// target refused")
    assert problems[1].startswith("route 'metadata' → endpoint.url: target 169.254.169.254 is a "
                                  "cloud-metadata address")
    assert problems[2].startswith("route 'token' → endpoint.auth.token_url: plain http://")
    assert transport_problems(config, allow_local=True) == []


LOOPBACK_SPELLINGS = ["１２７.０.０.１", "127。0。0。1", "①②⑦.0.0.1", "2130706433", "0x7f.1",
                      "0177.0.0.1", "127.1", "127.0.0.1.", "[::127.0.0.1]", "[::ffff:0:127.0.0.1]",
                      "[2002:7f00:1::]"]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_check_refuses_every_spelling_of_a_loopback_address(host: str) -> None:
    yaml = f"""
kafka: {{bootstrap_servers: "localhost:9092"}}
routes:
  - name: spelled
    topics: [t]
    template: {{a: 1}}
    endpoint: {{url: "http://{host}:8080/hooks", allow_insecure: true}}
"""
    config = parse_config(yaml, "r.yaml", {})
    [problem] = route_problems(config.routes[0], allow_local=False)
    assert problem.startswith("route 'spelled' → endpoint.url: target ")
    assert "is a loopback address" in problem
    assert transport_problems(config, allow_local=True) == []


@pytest.mark.parametrize(("url", "category"), [
    ("https://[64:ff9b:1::a9fe:a9fe]/", "private"),
    ("https://[fec0::1]/", "private"),
    ("https://0xa9.0xfe.0xa9.0xfe/", "cloud-metadata"),
    ("https://169.254.169.254./", "cloud-metadata"),
    ("https://０１２.０.０.１/", "private"),  # octal 012 = 10
])
def test_check_classifies_what_the_host_stands_for(url: str, category: str) -> None:
    with pytest.raises(TargetRefused, match=f"is a {category} address"):
        check_url(url, TargetPolicy())


def test_check_refuses_a_host_no_url_parser_accepts() -> None:
    with pytest.raises(TargetRefused, match="not a valid host name"):
        check_url("https://exa mple.com/", TargetPolicy())
    with pytest.raises(TargetRefused, match="not a valid IPv4 address"):
        check_url("https://1.2.3.4.5/", TargetPolicy(allow_private=True))


# Every sender that resolves names itself must apply the guard the same way.
MakeSender = Callable[..., Sender]
SENDERS = pytest.mark.parametrize("make_sender", [Http1Sender])


def _send(sender: Sender, url: str, policy: TargetPolicy) -> Any:
    async def go() -> Any:
        try:
            return await sender.send(OutboundRequest("POST", url, {}, b"{}", 2.0, policy=policy))
        finally:
            await sender.aclose()

    return asyncio.run(go())


@SENDERS
@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.1", "172.20.0.3", "169.254.169.254",
                                     "169.254.1.1", "fd00:ec2::254", "fe80::1", "127.0.0.1",
                                     "::127.0.0.1", "::ffff:0:a00:5", "2002:a9fe:a9fe::1",
                                     "64:ff9b:1::a00:5", "fec0::5"])
def test_a_name_resolving_to_a_non_public_address_is_refused_before_connecting(
    address: str, make_sender: MakeSender,
) -> None:
    resolver, sockets = StubResolver(address), LoopbackOnly()
    sender = make_sender(resolver=resolver, socket_factory=sockets)
    with pytest.raises(PermanentDeliveryError) as caught:
        _send(sender, "https://hooks.internal.test/x", TargetPolicy())
    assert resolver.lookups == ["hooks.internal.test"]
    assert sockets.opened == []  # refused before any socket existed
    assert f"hooks.internal.test ({address})" in caught.value.reason
    assert "allow_private" in caught.value.reason


@SENDERS
def test_loopback_receiver_is_refused_without_the_switch_and_reached_with_it(
    make_sender: MakeSender,
) -> None:
    receiver = Receiver()
    try:
        sockets = LoopbackOnly()
        literal = receiver.url
        named = literal.replace("127.0.0.1", "receiver.test")
        # plain http to loopback: refused for the scheme, then for the address
        with pytest.raises(PermanentDeliveryError, match="plain http"):
            _send(make_sender(socket_factory=sockets), literal, TargetPolicy())
        with pytest.raises(PermanentDeliveryError, match="loopback"):
            _send(make_sender(socket_factory=sockets), literal, TargetPolicy(allow_insecure=True))
        with pytest.raises(PermanentDeliveryError, match="loopback"):
            _send(make_sender(resolver=StubResolver("127.0.0.1"), socket_factory=sockets),
                  named, TargetPolicy(allow_insecure=True))
        assert sockets.opened == [] and receiver.requests == []
        # allowed: the same name reaches the receiver through the same stub
        response = _send(
            make_sender(resolver=StubResolver("127.0.0.1"), socket_factory=sockets),
            named, TargetPolicy(allow_insecure=True, allow_private=True),
        )
        assert response.status == 200 and len(receiver.requests) == 1
    finally:
        receiver.close()


def test_a_unicode_spelling_of_loopback_fails_check_and_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's reproduction: ``http://１２７.０.０.１:P/`` passed ``check`` and start-up."""
    yaml = """
kafka: {bootstrap_servers: "localhost:9092"}
routes:
  - name: spelled
    topics: [t]
    template: {a: 1}
    endpoint: {url: "http://１２７.０.０.１:8080/hooks", allow_insecure: true}
"""
    path = tmp_path / "r.yaml"
    path.write_text(yaml, encoding="utf-8")
    monkeypatch.delenv("KAFKAHOOKS_ALLOW_LOCAL_TARGETS", raising=False)
    with pytest.raises(SystemExit) as caught:
        main(["check", "--config", str(path)])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "route 'spelled' → endpoint.url: target 127.0.0.1 is a loopback address" in err
    with pytest.raises(ValueError, match="is a loopback address"):
        RouteTable(parse_config(yaml, "r.yaml", {}).routes)
