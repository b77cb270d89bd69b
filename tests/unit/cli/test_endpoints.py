"""``kafkahooks endpoints``: options, import lines, output shaping and the pipelined
write check, without Kafka (a fake log applies each write to a real table)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from kafkahooks.app import Settings
from kafkahooks.cli.bulk import Importer, parse_import_line, write_pipelined
from kafkahooks.cli.endpoints import expiry_seconds, header_pairs, spec_fields
from kafkahooks.cli.main import build_parser
from kafkahooks.cli.storesession import CONFLICT, Session, print_endpoint, print_table
from kafkahooks.config import RoutesFile
from kafkahooks.endpoints import (
    Endpoint,
    EndpointTable,
    Keyring,
    SigningSecret,
    encode_endpoint,
    generate_key_spec,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _args(*argv: str) -> argparse.Namespace:
    full = ["endpoints", *argv, "--config", "routes.yaml"]
    return build_parser(full).parse_args(full)


@pytest.mark.parametrize(
    ("text", "seconds"), [("now", 0.0), ("NOW", 0.0), ("24h", 86400.0), ("90", 90.0),
                          ("30m", 1800.0), ("7d", 604800.0), ("1.5s", 1.5)],
)  # fmt: skip
def test_expire_previous_takes_now_a_duration_or_seconds(text: str, seconds: float) -> None:
    assert expiry_seconds(text) == seconds


def test_a_bad_expire_previous_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _args("rotate-secret", "ep_x", "--expire-previous", "soon")
    assert exited.value.code == 2
    assert "give now, SECONDS" in capsys.readouterr().err


def test_options_become_the_spec_and_json_is_the_base(tmp_path: Path) -> None:
    base = tmp_path / "spec.json"
    base.write_text(json.dumps({"url": "https://a.example/x", "headers": {"X-A": "1"},
                                "metadata": {"a": "1"}}))  # fmt: skip
    args = _args(
        "create", "--tenant", "acme", "--json", str(base), "--description", "d",
        "--event-type", "a", "--event-type", "b", "--header", "X-B: 2",
        "--secret-header", "Authorization: Bearer t", "--metadata", "b=2", "--inactive",
        "--rate-limit", "5",
    )  # fmt: skip
    assert spec_fields(args) == {
        "url": "https://a.example/x",
        "description": "d",
        "rate_limit": 5.0,
        "event_types": ["a", "b"],
        "headers": {"X-A": "1", "X-B": "2"},
        "secret_headers": {"Authorization": "Bearer t"},
        "metadata": {"a": "1", "b": "2"},
        "active": False,
    }
    assert spec_fields(_args("update", "ep_x", "--description", "new")) == {"description": "new"}


def test_a_header_without_a_colon_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        header_pairs(["X-A 1"], "--header")
    assert exited.value.code == 2
    assert "--header: give 'Name: value'" in capsys.readouterr().err


def test_an_import_line_keeps_its_client_key_in_the_metadata() -> None:
    line = parse_import_line(
        json.dumps(
            {
                "tenant": 42,
                "client_key": "crm-1",
                "url": "https://a.example/",
                "metadata": {"x": "y"},
                "secret": SECRET,
            }
        )
    )
    assert (line.tenant, line.client_key, line.secret) == ("42", "crm-1", SECRET)
    assert line.fields == {
        "url": "https://a.example/",
        "metadata": {"x": "y", "client_key": "crm-1"},
    }
    for bad, said in (
        ("[1]", "not a JSON object"),
        ('{"tenant": true, "client_key": "k"}', "tenant"),
        ('{"tenant": "t"}', "client_key"),
        ('{"tenant": "t", "client_key": "k", "secret": 1}', "secret"),
        ("{", "not JSON"),
    ):
        with pytest.raises(ValueError, match=said):
            parse_import_line(bad)


# -- output: never a secret, a URL path or a header value ---------------------------------------


def _endpoint(**fields: Any) -> Endpoint:
    values: dict[str, Any] = {
        "id": "ep_01M8V0W2W83AY9VQRG6NGW2BWN",
        "tenant": "acme",
        "url": "https://hooks.example.com/path-token/in?key=query-token",
        "secrets": (SigningSecret(SecretStr(SECRET)),),
        "headers": {"X-Plain": "plain-value"},
        "secret_headers": {"Authorization": SecretStr("Bearer header-token")},
        **fields,
    }
    return Endpoint(**values)


def test_get_and_list_output_hold_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    ep = _endpoint()
    print_endpoint(ep)
    print_table([ep, _endpoint(id="ep_01M8V0W2W83AY9VQRG6NGW2BWP", description="\x1b[31mred")])
    out = capsys.readouterr().out
    assert "ep_01M8V0W2W83AY9VQRG6NGW2BWN" in out and "https://hooks.example.com/" in out
    for hidden in (SECRET, "path-token", "query-token", "header-token", "plain-value", "\x1b"):
        assert hidden not in out
    assert '"Authorization"' in out  # header names only


# -- import planning and the pipelined write check ------------------------------------------------


class FakeLog:
    """Applies each pipelined write to the table at the next offset, as the store would
    once read back; ``before`` records land first (another writer)."""

    topic = "endpoints"

    def __init__(self, table: EndpointTable) -> None:
        self.table = table
        self.next = 10
        self.before: list[tuple[str, bytes | None]] = []

    def write_many(self, records: list[tuple[str, bytes | None]], timeout: float) -> list[int]:
        for key, value in self.before:
            self.table.apply(key, value, self.next)
            self.next += 1
        offsets = []
        for key, value in records:
            self.table.apply(key, value, self.next)
            offsets.append(self.next)
            self.next += 1
        return offsets

    def wait_applied(self, offset: int, timeout: float) -> bool:
        return True


def _session(per_tenant: int = 50) -> tuple[Session, FakeLog]:
    keyring = Keyring.parse(generate_key_spec("k1"))
    table = EndpointTable(keyring)
    config = RoutesFile.model_validate({
        "kafka": {"bootstrap_servers": "127.0.0.1:9"},
        "routes": [{"name": "r", "topics": ["t"], "template": {"a": "{{ key }}"},
                    "endpoint": {"url": "https://a.example/"}}],
        "endpoint_store": {"topic": "endpoints", "encryption_keys": "x",
                           "max_endpoints_per_tenant": per_tenant},
    })  # fmt: skip
    log = FakeLog(table)
    session = Session("routes.yaml", config, Settings(), log, table, keyring, 5.0)  # type: ignore[arg-type]
    return session, log


def _line(tenant: str, key: str, url: str = "https://a.example/in", **more: Any) -> str:
    return json.dumps({"tenant": tenant, "client_key": key, "url": url, **more})


def test_import_creates_then_leaves_unchanged_and_updates_what_changed() -> None:
    session, _ = _session()
    first = Importer(session)
    for n, text in enumerate([_line("a", "1"), _line("a", "2"), _line("b", "1")], 1):
        first.take(n, text)
    assert [p.kind for p in first.plan] == ["created"] * 3 and not first.failed
    assert write_pipelined(session, first.plan) == [None, None, None]
    assert len(session.table) == 3

    again = Importer(session)
    again.take(1, _line("a", "1"))
    again.take(2, _line("a", "2", description="changed"))
    assert again.unchanged == 1
    assert [p.kind for p in again.plan] == ["updated"]
    held = session.table.get(again.plan[0].ep.id)
    assert held is not None and held.metadata["client_key"] == "2"
    assert again.plan[0].ep.secrets == held.secrets  # an update keeps the secrets


def test_import_fails_lines_alone_naming_why() -> None:
    session, _ = _session(per_tenant=1)
    importer = Importer(session)
    importer.take(1, _line("a", "1"))
    importer.take(2, _line("a", "1"))  # the same client key again
    importer.take(3, _line("a", "2"))  # over the tenant's limit
    importer.take(4, _line("b", "1", url="https://127.0.0.1/x"))
    importer.take(5, _line("c", "1", url="https://2130706433/x"))  # the guard's spelling
    reasons = dict(importer.failed)
    assert len(importer.plan) == 1
    assert "is on line 1 already" in reasons[2]
    assert "max_endpoints_per_tenant" in reasons[3]
    assert "non-public" in reasons[4]
    assert "transport guard" in reasons[5]


def test_a_pipelined_write_another_writer_beat_is_a_conflict() -> None:
    session, log = _session()
    importer = Importer(session)
    importer.take(1, _line("a", "1"))
    write_pipelined(session, importer.plan)
    ep = session.table.get(importer.plan[0].ep.id)
    assert ep is not None
    later = Importer(session)
    later.take(1, _line("a", "1", description="mine"))
    theirs = encode_endpoint(ep, session.keyring, ep.offset, 0.0)  # same revision, first
    log.before = [(ep.id, theirs)]
    assert write_pipelined(session, later.plan) == [CONFLICT]
