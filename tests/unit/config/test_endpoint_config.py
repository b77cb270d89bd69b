"""Endpoint and signing options: presets, validation, the CLI's secret and render commands."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from kafkahooks.cli.main import main
from kafkahooks.config import SigningConfig, parse_config
from kafkahooks.delivery.signing import signer_for

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("preset", "expected"), [
    ("audian", {"scheme": "timestamped", "header": "x-audian-signature",
                "timestamp_header": "x-audian-timestamp", "encoding": "hex"}),
    ("avoma", {"scheme": "hmac-sha256", "header": "X-Avoma-Signature", "encoding": "hex"}),
    ("outrival", {"scheme": "hmac-sha256", "header": "x-signature", "encoding": "hex"}),
    ("auvious", {"scheme": "hmac-sha256", "header": "x-signature", "encoding": "hex"}),
    ("github", {"scheme": "hmac-sha256", "header": "X-Hub-Signature-256", "prefix": "sha256="}),
])
def test_presets_spell_out_the_scheme(preset: str, expected: dict[str, Any]) -> None:
    config = SigningConfig.model_validate({"scheme": preset, "secret": "s3cret"})
    assert config.preset == preset
    for key, value in expected.items():
        assert getattr(config, key) == value


def test_a_preset_option_can_be_overridden() -> None:
    config = SigningConfig.model_validate(
        {"scheme": "audian", "secret": "s", "timestamp_header": "x-ts"})
    assert config.timestamp_header == "x-ts" and config.header == "x-audian-signature"


def test_audian_keys_the_whsec_string_as_written() -> None:
    # Audian's recipe: HMAC keyed with the secret string, "whsec_" prefix included.
    signer = signer_for(SigningConfig.model_validate({"scheme": "audian",
                                                      "secret": "whsec_abcdef1234567890"}))
    assert signer.keys == (b"whsec_abcdef1234567890",)


def test_an_empty_older_secret_is_dropped_but_not_an_empty_primary() -> None:
    config = SigningConfig.model_validate({"secrets": ["new", ""]})
    assert [s.get_secret_value() for s in config.secrets] == ["new"]
    with pytest.raises(ValueError, match="empty"):
        SigningConfig.model_validate({"secrets": ["", "old"]})


@pytest.mark.parametrize(("config", "message"), [
    ({"scheme": "standard-webhooks", "secret": "not base64!"}, "whsec_"),
    ({"scheme": "standard-webhooks", "secret": "whsec_MfKQ", "encoding": "hex"}, "fixes"),
    ({"scheme": "t-v1", "secret": "s", "timestamp_header": "x-ts"}, "no prefix"),
    ({"scheme": "t-v1", "secret": "s", "rotation_header": "x-old"}, "single-signature"),
    ({"secret": "s", "header": "bad header"}, "not a valid HTTP header name"),
])
def test_options_a_scheme_cannot_honour_are_errors(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SigningConfig.model_validate(config)


ROUTE = """
kafka: {bootstrap_servers: "localhost:9092"}
routes:
  - name: r
    topics: [t]
    template: {a: 1}
    endpoint: ENDPOINT
"""


@pytest.mark.parametrize(("endpoint", "message"), [
    ('{url: "https://h.test", auth: {type: digest}}', "endpoint.auth"),
    ('{url: "https://h.test", auth: {type: bearer, token: ""}}', "bearer token is empty"),
    ('{url: "https://h.test", auth: {type: oauth2, token_url: "ftp://x", client_id: c, '
     'client_secret: s}}', "endpoint.auth.oauth2.token_url"),
    ('{url: "https://h.test", auth: {type: basic, username: u, password: p}, '
     'headers: {Authorization: x}}', "authorization is set both"),
    ('{url: "https://h.test", tls: {ca_bundle: /nonexistent/ca.pem}}', "endpoint.tls.ca_bundle"),
    ('{url: "https://h.test", xml_root: "1x"}', "not an XML element name"),
])
def test_bad_endpoint_options_name_the_field(endpoint: str, message: str) -> None:
    with pytest.raises(Exception, match=r"r\.yaml") as caught:
        parse_config(ROUTE.replace("ENDPOINT", endpoint), "r.yaml", {})
    assert message in str(caught.value)


def test_secret_generate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["secret", "generate"]) == 0
    hex_secret = capsys.readouterr().out.strip()
    assert len(hex_secret) == 64 and int(hex_secret, 16) >= 0
    assert main(["secret", "generate", "--format", "whsec"]) == 0
    whsec = capsys.readouterr().out.strip()
    assert whsec.startswith("whsec_") and len(base64.b64decode(whsec[6:])) == 32
    main(["secret", "generate"])
    assert capsys.readouterr().out.strip() != hex_secret


def test_plain_http_target_fails_check_naming_route_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(ROUTE.replace("ENDPOINT", '{url: "http://hooks.example.test/x"}'))
    monkeypatch.delenv("KAFKAHOOKS_ALLOW_LOCAL_TARGETS", raising=False)
    with pytest.raises(SystemExit) as caught:
        main(["check", "--config", str(path)])
    assert caught.value.code == 2
    assert "route 'r' → endpoint.url: plain http:// target refused" in capsys.readouterr().err
    monkeypatch.setenv("KAFKAHOOKS_ALLOW_LOCAL_TARGETS", "true")
    assert main(["check", "--config", str(path)]) == 0


def test_render_uses_built_in_samples_by_event_type(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"TARGET_URL": "https://hooks.example.test/a",
                        "WEBHOOK_SECRET": "render-secret-123"}.items():
        monkeypatch.setenv(name, value)
    config = str(REPO / "examples" / "audian.yaml")
    assert main(["render", "--config", config, "--route", "audian-calls",
                 "--event-type", "ended"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("POST https://hooks.example.test/********\n")  # from ${TARGET_URL}
    assert '{"event":"call.completed","data":{"call_id":"call-000001"' in out
    assert "x-audian-timestamp: " in out
    with pytest.raises(SystemExit):
        main(["render", "--config", config, "--route", "audian-calls", "--event-type", "nope"])
    assert "the built-in samples have types ended, in-progress, queued, ringing" in (
        capsys.readouterr().err)


def test_built_in_samples_are_the_call_status_events_of_schemas() -> None:
    import json

    from kafkahooks.samples import sample_events

    schemas = sorted(json.loads(p.read_text())["data"]["status"]
                     for p in (REPO / "schemas" / "call-status").glob("*.json"))
    by_status = {e.value["data"]["status"]: e for _, e in sample_events("calls")}
    assert sorted(by_status) == schemas
    for path in (REPO / "schemas" / "call-status").glob("*.json"):
        value = json.loads(path.read_text())
        sample = by_status[value["data"]["status"]]
        assert sample.value == value and sample.key == value["callId"].encode()
