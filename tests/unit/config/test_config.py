"""Loading and validating routes files, and ``kafkahooks check``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kafkahooks.app.checks import check_config
from kafkahooks.cli.main import main
from kafkahooks.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[3]

VALID = """
kafka:
  bootstrap_servers: ${BOOT:-localhost:9092}
  group_id: hooks
  properties:
    security.protocol: SASL_SSL
    session.timeout.ms: 6000
routes:
  - name: calls
    description: call status changes
    topics: [calls.status]
    events: [status-changed]
    template:
      status: "{{ value.data.status }}"
      callId: "{{ key }}"
    on_missing: omit
    endpoint:
      url: https://hooks.example.test/calls
      timeout: 5
    signing:
      secret: ${SECRET}
    retry:
      max_attempts: 3
  - name: audit
    active: false
    topics: [calls.status, other]
    template: ["{{ topic }}"]
    endpoint:
      url: http://audit.example.test/
"""
ENV = {"SECRET": "hunter2"}


def _problems(text: str, env: dict[str, str] | None = None) -> str:
    """What loading ``text`` reports: the loader's problems, then the load-time checks'."""
    with pytest.raises(ConfigError) as caught:
        check_config(parse_config(text, "routes.yaml", ENV if env is None else env), "routes.yaml")
    return str(caught.value)


def test_valid_file_loads_with_defaults_and_interpolation(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(VALID, encoding="utf-8")
    config = load_config(path, ENV)
    assert config.kafka.bootstrap_servers == "localhost:9092"
    assert config.kafka.properties["session.timeout.ms"] == 6000
    calls, audit = config.routes
    assert calls.endpoint.timeout == 5
    assert calls.endpoint.method == "POST"
    assert audit.endpoint.timeout == 30.0  # the documented default
    assert calls.retry.max_attempts == 3
    assert calls.dead_letter_for("calls.status") == "calls.status.dlq"
    assert not audit.active
    assert config.topics == ["calls.status", "other"]
    assert calls.signing is not None
    assert calls.signing.secrets[0].get_secret_value() == "hunter2"
    assert "hunter2" not in repr(config)  # secrets are SecretStr


def test_demo_routes_file_is_valid() -> None:
    config = load_config(
        REPO / "examples" / "demo.yaml",
        {"TARGET_URL": "http://127.0.0.1:9/", "WEBHOOK_SECRET": "x"},
    )
    assert [r.name for r in config.routes] == ["call-status"]


def test_negative_timeout_names_file_route_and_field() -> None:
    message = _problems(VALID.replace("timeout: 5", "timeout: -1"))
    assert "routes.yaml: route 'calls' → endpoint.timeout:" in message
    assert "greater than 0" in message


def test_unknown_key_is_rejected() -> None:
    message = _problems(VALID.replace("timeout: 5", "timeout: 5\n      timout_ms: 5"))
    assert "routes.yaml: route 'calls' → endpoint.timout_ms: Extra inputs are not permitted" in (
        message
    )


def test_unknown_top_level_key_is_rejected() -> None:
    message = _problems(VALID + "extra: 1\n")
    assert "routes.yaml: extra: Extra inputs are not permitted" in message


def test_missing_secret_env_var_names_the_variable_and_field() -> None:
    message = _problems(VALID, env={})
    assert "routes.yaml: route 'calls' → signing.secret:" in message
    assert "SECRET is not set" in message


def test_empty_secret_env_var_is_rejected() -> None:
    message = _problems(VALID, env={"SECRET": ""})
    assert "route 'calls' → signing.secrets" in message
    assert "empty" in message


def test_bad_template_placeholder_names_route_and_template_field() -> None:
    message = _problems(VALID.replace("{{ value.data.status }}", "{{ data.status }}"))
    assert "routes.yaml: route 'calls' → template: field status:" in message
    assert "unknown placeholder root 'data'" in message


def test_duplicate_route_names_are_rejected() -> None:
    message = _problems(VALID.replace("name: audit", "name: calls"))
    assert "routes.yaml:" in message
    assert "routes.yaml: routes: route name 'calls' is used twice" in message


def test_route_without_a_name_is_reported_by_position() -> None:
    message = _problems(VALID.replace("  - name: audit\n", "  - description: x\n"))
    assert "route #2 → name: Field required" in message


def test_several_problems_are_all_reported() -> None:
    text = VALID.replace("timeout: 5", "timeout: 0").replace("max_attempts: 3", "max_attempts: 0")
    message = _problems(text)
    assert "endpoint.timeout" in message
    assert "retry.max_attempts" in message


def test_bad_url_scheme_and_reserved_kafka_property() -> None:
    text = VALID.replace("https://hooks", "ftp://hooks").replace(
        "security.protocol: SASL_SSL", "enable.auto.commit: true"
    )
    message = _problems(text)
    assert "route 'calls' → endpoint.url: must start with http:// or https://" in message
    assert "kafka.properties:" in message
    assert "enable.auto.commit" in message


@pytest.mark.parametrize(("url", "problem"), [
    ("https://hooks.example.test:99999/x", "has an invalid port"),
    ("https://hooks.example.test:abc/x", "has an invalid port"),
    ("https:///x", "has no host name"),
])
def test_an_endpoint_url_that_cannot_be_reached_is_refused_at_load(url: str, problem: str) -> None:
    text = re.sub(r"url: \S+", f"url: {url}", VALID, count=1)
    assert f"route 'calls' → endpoint.url: {problem}" in _problems(text)


def test_not_yaml_and_not_a_mapping() -> None:
    assert "not valid YAML" in _problems("kafka: [unclosed")
    assert "expected a mapping" in _problems("- just a list")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.yaml")
    assert "absent.yaml: cannot read" in str(caught.value)


def test_check_cli_accepts_a_valid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(VALID, encoding="utf-8")
    monkeypatch.setenv("SECRET", "hunter2")
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out
    assert "route calls" in out and "route audit (inactive)" in out
    assert "hunter2" not in out


def test_check_cli_rejects_a_bad_file_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(VALID.replace("timeout: 5", "timeout: -1"), encoding="utf-8")
    monkeypatch.setenv("SECRET", "hunter2")
    with pytest.raises(SystemExit) as caught:
        main(["check", "--config", str(path)])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert f"{path}: route 'calls' → endpoint.timeout: Input should be greater than 0" in err


def test_check_command_in_a_subprocess_exits_2_with_a_readable_message(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(VALID, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "SECRET"}
    done = subprocess.run(
        [sys.executable, "-m", "kafkahooks.cli", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "invalid config" in done.stderr
    assert "route 'calls' → signing.secret: environment variable SECRET is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_config_package_imports_no_runtime_code() -> None:
    """``config/`` sits under every runtime layer: loading a routes file pulls in no
    templating, decoding, delivery or Kafka code (its runtime checks live in
    ``app/checks.py``), only the error tree below it."""
    probe = (
        "import sys, kafkahooks.config\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('kafkahooks'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = done.stdout.split()
    assert "kafkahooks.config.loader" in loaded
    below = ("kafkahooks", "kafkahooks.errors")
    assert [m for m in loaded if m not in below and not m.startswith("kafkahooks.config")] == []
