"""``check`` (and ``run``, ``render``, a hot reload) list every problem of a routes file at
once, each with file, route and field; placeholder paths that no built-in sample has are
warnings; and the messages an operator meets first say what to do (issue 14).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from kafkahooks.app.reload import Reloader
from kafkahooks.cli.main import main
from kafkahooks.config import RoutesFile
from kafkahooks.demo.run import Progress

# four mistakes in four places: an unset variable (route a), a schema error (route b),
# a template error (route c), a target the transport policy refuses (route d); and a
# fifth, a schema file that does not exist (sources)
FOUR = """
kafka: {bootstrap_servers: "127.0.0.1:9092", group_id: g}
sources:
  calls.status:
    value: {format: avro, schema: nowhere.avsc}
routes:
  - name: a
    topics: [calls.status]
    template: {id: "{{ value.callId }}"}
    endpoint: {url: "${KH_TEST_UNSET_URL}"}
  - name: b
    topics: [calls.status]
    template: {id: "{{ value.callId }}"}
    endpoint: {url: "https://hooks.example.test/b", timeout: -1}
  - name: c
    topics: [calls.status]
    template: {id: "{{ data.callId }}"}
    endpoint: {url: "https://hooks.example.test/c"}
  - name: d
    topics: [calls.status]
    template: {id: "{{ value.callId }}"}
    endpoint: {url: "http://127.0.0.1:9/d"}
"""


def _problems(path: Path) -> list[str]:
    return [
        f"{path}: route 'a' → endpoint.url: environment variable KH_TEST_UNSET_URL is not set "
        "and has no default",
        f"{path}: route 'b' → endpoint.timeout: Input should be greater than 0",
        f"{path}: route 'c' → template: field id: unknown placeholder root 'data'",
        f"{path}: route 'd' → endpoint.url: ",
        f"{path}: sources.calls.status.value: {path.parent / 'nowhere.avsc'}: no such schema file",
    ]


@pytest.fixture
def four(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("KH_TEST_UNSET_URL", raising=False)
    monkeypatch.delenv("KAFKAHOOKS_ALLOW_LOCAL_TARGETS", raising=False)
    path = tmp_path / "routes.yaml"
    path.write_text(FOUR, encoding="utf-8")
    return path


def _lines_start(text: str, expected: list[str]) -> None:
    lines = text.splitlines()
    for want in expected:
        assert any(line.startswith(want) for line in lines), f"missing: {want}\nin:\n{text}"


def test_check_lists_all_four_mistakes_at_once(
    four: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["check", "--config", str(four)])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    _lines_start(err, _problems(four))
    assert len(err.splitlines()) == 1 + 5  # "invalid config:" and nothing said twice


def test_check_in_a_subprocess_lists_them_all_and_exits_2(four: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kafkahooks.cli", "check", "--config", str(four)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    _lines_start(done.stderr, _problems(four))


def test_every_unset_variable_is_named_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("KH_TEST_HOST", "KH_TEST_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "routes.yaml"
    path.write_text(
        FOUR.split("sources:")[0]
        + """routes:
  - name: a
    topics: [t]
    template: {id: "{{ value.callId }}"}
    endpoint:
      url: "https://${KH_TEST_HOST}/a"
      auth: {type: bearer, token: "${KH_TEST_TOKEN}"}
""",
        encoding="utf-8",
    )
    with pytest.raises(SystemExit):
        main(["check", "--config", str(path)])
    err = capsys.readouterr().err
    assert "KH_TEST_HOST is not set" in err
    assert "KH_TEST_TOKEN is not set" in err
    assert err.count(f"{path}: ") == 2  # the empty values they stand for are not reported


def test_a_hot_reload_logs_them_all(four: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Target:
        async def apply(self, config: RoutesFile) -> None:
            raise AssertionError("a broken file must not be applied")

    with caplog.at_level(logging.ERROR, logger="kafkahooks.reload"):
        assert asyncio.run(Reloader(Target(), four).reload()) is False
    problems = "\n".join(caplog.records[0].__dict__["problems"])
    # a reload checks the transport policy when it applies the file: routes a to c here
    _lines_start(problems, _problems(four)[:3] + _problems(four)[4:])


def test_a_hot_reload_of_the_bridge_lists_refused_targets_too(
    four: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The bridge's reloader knows the process's local-target switch, so a refused target
    is listed with the file's other problems, not only once they are fixed."""

    class Target:
        async def apply(self, config: RoutesFile) -> None:
            raise AssertionError("a broken file must not be applied")

    with caplog.at_level(logging.ERROR, logger="kafkahooks.reload"):
        assert asyncio.run(Reloader(Target(), four, allow_local=False).reload()) is False
    problems = "\n".join(caplog.records[0].__dict__["problems"])
    _lines_start(problems, _problems(four))


def test_a_broken_yaml_reload_is_logged_as_one_readable_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("kafka:\n  bootstrap_servers: x\nroutes:\n  - name: [a\n", encoding="utf-8")

    class Target:
        async def apply(self, config: RoutesFile) -> None:
            raise AssertionError("not reached")

    with caplog.at_level(logging.ERROR, logger="kafkahooks.reload"):
        asyncio.run(Reloader(Target(), path).reload())
    (problem,) = caplog.records[0].__dict__["problems"]
    assert problem.startswith(f"{path}: not valid YAML at line 5, column 1: expected ',' or ']'")
    assert "<unicode string>" not in problem


SAMPLED = """
kafka: {bootstrap_servers: "127.0.0.1:9092", group_id: g}
routes:
  - name: calls
    topics: [calls.status]
    template: {from: "{{ value.frm }}", status: "{{ value.data.status }}"}
    endpoint: {url: "https://hooks.example.test/calls"}
"""
WARNING = (
    "warning: {path}: route 'calls' → template: {{{{ value.frm }}}} is in none of the "
    "built-in sample events this route takes"
)


@pytest.fixture
def sampled(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(SAMPLED, encoding="utf-8")
    return path


def test_check_warns_of_a_path_no_sample_has_and_still_exits_0(
    sampled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", str(sampled)]) == 0
    out, err = capsys.readouterr()
    assert f"{sampled}: OK" in out
    assert WARNING.format(path=sampled) in err
    assert "value.data.status" not in err  # a field some samples have is no typo


def test_render_warns_of_it_too(sampled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--config", str(sampled), "--route", "calls"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("POST https://hooks.example.test/calls")
    assert WARNING.format(path=sampled) in err


def test_render_without_a_fitting_sample_says_what_there_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(SAMPLED.replace("template:", "event_type: value.kind\n    template:"))
    with pytest.raises(SystemExit) as caught:
        main(["render", "--config", str(path), "--route", "calls", "--event-type", "x"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "None" not in err
    assert "no built-in sample has a type at this route's event_type path (value.kind)" in err
    assert "--event FILE.json" in err

    path.write_text(SAMPLED)
    with pytest.raises(SystemExit):
        main(["render", "--config", str(path), "--route", "calls", "--event-type", "x"])
    err = capsys.readouterr().err
    assert "the built-in samples have types status-changed (--event-type TYPE)" in err


def test_an_unknown_signing_scheme_lists_the_schemes_and_presets(
    sampled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sampled.write_text(
        SAMPLED + "    signing: {scheme: githb, secret: 0123456789abcdef0123456789abcdef}\n"
    )
    with pytest.raises(SystemExit):
        main(["check", "--config", str(sampled)])
    err = capsys.readouterr().err
    assert (
        f"{sampled}: route 'calls' → signing: scheme 'githb' is neither a signing scheme "
        "(hmac-sha256, timestamped, standard-webhooks, t-v1) "
        "nor a preset (audian, auvious, avoma, github, outrival)"
    ) in err


def test_demo_progress_shows_the_join_then_each_change_then_the_end() -> None:
    class Out:
        lines: list[str] = []

        def write(self, text: str) -> None:
            self.lines += [line for line in text.splitlines() if line]

        def flush(self) -> None:
            pass

    out = Out()
    progress = Progress(1000, out)  # type: ignore[arg-type]
    for now in (0.0, 0.5, 1.0):
        progress.update(now, False, 0)
    progress.update(2.0, True, 0)
    progress.update(2.3, True, 400)
    progress.update(2.4, True, 500)  # within 0.25 s of the last line: not shown
    progress.update(2.6, True, 900)
    progress.update(2.7, True, 1000, final=True)
    progress.update(2.8, True, 1000, final=True)
    joined = [line for line in out.lines if "delivered" in line]
    assert "waiting for the consumer group" in out.lines[0]
    assert sum("waiting" in line for line in out.lines) == 1
    assert [line.split("/")[0].split()[-1] for line in joined] == ["0", "400", "900", "1000"]


@pytest.mark.parametrize(
    "argv",
    [["secret", "generate"], ["check", "--help"], ["render", "--help"]],
    ids=" ".join,
)
def test_quick_commands_do_not_import_the_runtime(argv: list[str]) -> None:
    """What made every command take ~0.9 s: the bridge, the HTTP client, Kafka and the
    registry client imported for all of them (bench/cli_startup.py times it)."""
    code = (
        "import sys\n"
        "from kafkahooks.cli.main import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ['aiohttp', 'confluent_kafka', 'kafkahooks.app.bridge', 'kafkahooks.engine',"
        " 'kafkahooks.delivery.http1']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines()[-1] == "[]"


def test_check_does_not_import_the_bridge_or_kafka(sampled: Path) -> None:
    code = (
        "import sys\n"
        "from kafkahooks.cli.main import main\n"
        f"main(['check', '--config', {str(sampled)!r}])\n"
        "heavy = ['aiohttp', 'confluent_kafka', 'kafkahooks.app.bridge', 'kafkahooks.engine',"
        " 'pydantic_settings']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines()[-1] == "[]"


def test_run_refuses_the_file_with_all_of_them_too(
    four: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    import kafkahooks.telemetry

    main_module = importlib.import_module("kafkahooks.cli.main")

    monkeypatch.setattr(kafkahooks.telemetry, "setup_logging", lambda *_: None)
    monkeypatch.setattr(main_module, "_catch_early_signals", lambda: None)  # pytest's own
    with pytest.raises(SystemExit) as caught:
        main(["run", "--config", str(four)])
    assert caught.value.code == 2
    _lines_start(capsys.readouterr().err, _problems(four))
