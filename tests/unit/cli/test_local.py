"""``kafkahooks broker``, ``listen`` and ``produce``: arguments, exit codes, clear errors,
and what ``listen`` prints and answers for each signing scheme."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest

from kafkahooks.cli.main import main
from kafkahooks.config import SigningConfig
from kafkahooks.delivery.signing import signer_for
from kafkahooks.demo import (
    ListenReceiver,
    ProduceError,
    escape_excerpt,
    file_records,
    sample_records,
    signature_check,
)

WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()
BODY = b'{"hello":"world"}'


def _routes(tmp_path: Path, signing: str = "scheme: github\n      secret: s3cret") -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "kafka: {bootstrap_servers: 127.0.0.1:9}\n"
        "routes:\n"
        "  - name: hook\n"
        "    topics: [t]\n"
        "    template: {a: '{{ key }}'}\n"
        "    endpoint: {url: 'https://hooks.example.com/x'}\n"
        f"    signing:\n      {signing}\n"
    )
    return path


# --- argument handling: exit 2 with a message that says what to give ------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["listen"], "give --secret S"),
        (["listen", "--config", "r.yaml"], "--config needs --route NAME"),
        (["listen", "--secret", "x", "--scheme", "nope"], "is neither a signing scheme ("),
        (
            [
                "produce",
                "--bootstrap",
                "127.0.0.1:9",
                "--topic",
                "t",
                "--sample",
                "ended",
                "--count",
                "0",
            ],
            "--count must be at least 1",
        ),
    ],
)
def test_bad_usage_exits_2_saying_why(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["broker", "--port", "70000"],
        ["listen", "--port", "http"],
        ["produce", "--topic", "t", "--sample", "ended"],  # no --bootstrap
        ["produce", "--bootstrap", "b", "--topic", "t"],  # neither --sample nor --file
        ["produce", "--bootstrap", "b", "--topic", "t", "--sample", "x", "--file", "f"],
    ],
)
def test_argparse_refuses_malformed_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2


def test_listen_config_and_secret_together_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["listen", "--config", str(_routes(tmp_path)), "--route", "hook", "--secret", "x"]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "not both" in capsys.readouterr().err


def test_listen_unknown_route_names_the_routes_there_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["listen", "--config", str(_routes(tmp_path)), "--route", "other"])
    assert exit_.value.code == 2
    assert "hook" in capsys.readouterr().err


def test_listen_on_a_port_in_use_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["listen", "--secret", "x", "--port", str(port)])
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_produce_unknown_sample_exits_1_listing_the_samples(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["produce", "--bootstrap", "127.0.0.1:9", "--topic", "t", "--sample", "nope"])
    err = capsys.readouterr().err
    assert code == 1
    assert "no built-in sample of type 'nope'" in err
    assert "ended" in err and "--file" in err


@pytest.mark.parametrize(
    ("content", "says"), [(None, "cannot read"), ("{not json", "not JSON"), ("[]", "no events")]
)
def test_produce_unusable_file_exits_1(
    tmp_path: Path, content: str | None, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.json"
    if content is not None:
        path.write_text(content)
    code = main(["produce", "--bootstrap", "127.0.0.1:9", "--topic", "t", "--file", str(path)])
    assert code == 1
    assert says in capsys.readouterr().err


def test_produce_without_a_broker_fails_loudly(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    argv = [
        "produce",
        "--bootstrap",
        f"127.0.0.1:{port}",
        "--topic",
        "t",
        "--sample",
        "ended",
        "--timeout",
        "1",
    ]
    code = main(argv)
    out = capsys.readouterr()
    assert code == 1
    assert "produced" not in out.out
    assert f"cannot produce to t at 127.0.0.1:{port}: 1 of 1 events not acknowledged" in out.err


# --- what produce sends -------------------------------------------------------------------


def test_samples_by_type_and_status_changed_for_all() -> None:
    ended = sample_records(["ended"])
    assert len(ended) == 1
    assert ended[0].key == b"call-000001"
    assert json.loads(ended[0].value)["data"]["status"] == "ended"
    assert ("x-origin-channel", b"web-widget") in ended[0].headers
    assert len(sample_records(["status-changed"])) == 4
    assert sample_records(["ended"], key="k1")[0].key == b"k1"


def test_file_events_one_a_list_and_envelopes(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text('{"order": 1}')
    [record] = file_records(str(one))
    assert record.value == b'{"order":1}' and record.key is None and record.headers == []

    many = tmp_path / "many.json"
    many.write_text(
        json.dumps(
            [
                {"value": {"order": 2}, "key": "o-2", "headers": {"h": "v"}},
                {"order": 3},
            ]
        )
    )
    first, second = file_records(str(many))
    assert (first.value, first.key, first.headers) == (b'{"order":2}', b"o-2", [("h", b"v")])
    assert second.value == b'{"order":3}'
    assert [r.key for r in file_records(str(many), key="k")] == [b"k", b"k"]


def test_envelope_headers_must_be_an_object(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"value": 1, "headers": ["h"]}')
    with pytest.raises(ProduceError, match="headers"):
        file_records(str(path))


# --- what listen verifies and prints ------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"scheme": "hmac-sha256", "secret": "s3cret"},
        {"scheme": "timestamped", "secret": "s3cret"},
        {"scheme": "standard-webhooks", "secret": WHSEC},
        {"scheme": "t-v1", "secret": "s3cret"},
        {"scheme": "github", "secret": "s3cret"},
        {"scheme": "audian", "secret": "s3cret"},
        {"scheme": "hmac-sha256", "secret": "s3cret", "encoding": "base64", "prefix": "v1="},
    ],
)
def test_every_scheme_verifies_what_kafkahooks_signs(fields: dict[str, str]) -> None:
    config = SigningConfig.model_validate(fields)
    headers = signer_for(config).headers(BODY, 1_700_000_000, "evt_1")
    check = signature_check(config)
    assert check.verify(headers, BODY) == (True, "")
    assert check.verify(headers, BODY + b" ")[0] is False
    wrong = dict(fields, secret=WHSEC if "whsec" not in fields["secret"] else "whsec_AAAA")
    assert signature_check(SigningConfig.model_validate(wrong)).verify(headers, BODY)[0] is False


def test_a_rotated_older_secret_still_verifies() -> None:
    sender = SigningConfig.model_validate({"scheme": "hmac-sha256", "secrets": ["new", "old"]})
    headers = signer_for(sender).headers(BODY, 1, "evt_1")
    receiver = SigningConfig.model_validate({"scheme": "hmac-sha256", "secret": "old"})
    assert signature_check(receiver).verify(headers, BODY)[0] is True


def test_a_missing_header_says_which() -> None:
    check = signature_check(SigningConfig.model_validate({"scheme": "github", "secret": "s"}))
    assert check.verify({}, BODY) == (False, "no X-Hub-Signature-256 header")


def test_the_secret_is_not_in_the_check_repr() -> None:
    check = signature_check(SigningConfig.model_validate({"secret": "topsecret"}))
    assert "topsecret" not in repr(check) and "topsecret" not in str(check)


def test_listen_prints_one_escaped_line_per_request_and_answers_200_or_401() -> None:
    config = SigningConfig.model_validate({"scheme": "standard-webhooks", "secret": WHSEC})
    lines: list[str] = []
    receiver = ListenReceiver(signature_check(config), lines.append)
    try:
        body = '{"x":"\x1b[31mred\u202e"}\n'.encode()
        headers = signer_for(config).headers(body, 1_700_000_000, "evt_9")
        assert receiver.handle("POST", "/hooks", headers, body) == 200
        assert receiver.handle("POST", "/hooks", {**headers, "webhook-id": "evt_\x07"}, body) == 401
    finally:
        receiver.close()
    ok, bad = lines
    assert " POST /hooks webhook-id=evt_9 verified body=" in ok
    assert "\\x1b[31mred\\u202e" in ok and "\\x0a" in ok
    assert "\x1b" not in ok and "\n" not in ok
    assert "webhook-id=evt_\\x07 NOT verified: signature mismatch" in bad
    assert (receiver.verified, receiver.rejected) == (1, 1)


def test_excerpts_are_cut() -> None:
    assert escape_excerpt(b"a" * 300) == "a" * 200 + "…"
    assert escape_excerpt(b"\xff") == "\\xff"
