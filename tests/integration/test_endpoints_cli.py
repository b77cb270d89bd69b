"""``kafkahooks endpoints …`` as an operator runs it, against the real test broker.

Each command is a real ``python -m kafkahooks.cli`` process reading the store topic
named by the routes file (except the conflict case, which runs one writer in this
process to hold it between its read and its write).  The raw topic is read with the
store's own bytes-only reader: what is on the wire, undecrypted.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
import yaml

import kafkahooks.cli.storesession as cli_session
from kafkahooks.cli.main import main
from kafkahooks.endpoints import generate_key_spec
from kafkahooks.kafka import StoreLog, ensure_store_topic
from tests.support.bridge import BridgeProcess, wait_until
from tests.support.kafka import GROUP_TIMINGS, committed, create_topic, produce, unique
from tests.support.receiver import Receiver

# each test starts bridges or CLI processes for 10-30 s: `make test-slow` runs them
pytestmark = pytest.mark.slow

K1 = generate_key_spec("k1")
K2 = generate_key_spec("k2")
PATH_TOKEN = "p4th-t0ken-9f3e"
HEADER_TOKEN = "Bearer h3ader-t0ken-77aa"
GIVEN_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

Run = Callable[..., subprocess.CompletedProcess[str]]


def _routes(path: Path, bootstrap: str, topic: str, **store: Any) -> Path:
    doc = {
        "kafka": {"bootstrap_servers": bootstrap},
        "endpoint_store": {
            "topic": topic,
            "encryption_keys": "${KH_TEST_KEYS}",
            **store,
        },
        "routes": [
            {
                "name": "calls",
                "topics": ["calls.status"],
                "event_type": "value.event",
                "template": {"event": "{{ event_type }}", "call": "{{ value.data.callId }}"},
                "signing": {"scheme": "standard-webhooks"},
                "endpoints": {"tenant": "value.accountId"},
            }
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def store_topic() -> str:
    return unique("endpoints")


@pytest.fixture
def config(tmp_path: Path, bootstrap: str, store_topic: str) -> Path:
    return _routes(tmp_path / "routes.yaml", bootstrap, store_topic)


@pytest.fixture
def run(config: Path) -> Run:
    """``kafkahooks endpoints ARGS --config FILE`` in a process of its own."""

    def call(
        *args: str, keys: str = K1, stdin: str | None = None, allow_local: bool = False,
        config_file: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        env = {**os.environ, "KH_TEST_KEYS": keys}
        env.pop("KAFKAHOOKS_ALLOW_LOCAL_TARGETS", None)
        if allow_local:
            env["KAFKAHOOKS_ALLOW_LOCAL_TARGETS"] = "true"
        argv = [sys.executable, "-m", "kafkahooks.cli", "endpoints", *args,
                "--config", str(config_file or config), "--timeout", "30"]  # fmt: skip
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, env=env, timeout=120
        )

    return call


def _created(done: subprocess.CompletedProcess[str]) -> tuple[dict[str, Any], str]:
    """(the endpoint a ``create`` printed, its last line: the secret's)."""
    assert done.returncode == 0, done.stderr
    body, _, last = done.stdout.rstrip("\n").rpartition("\n")
    return json.loads(body), last


def _raw_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every record value in the store topic, as written."""
    values: list[bytes] = []

    def keep(_key: str, value: bytes | None, _offset: int) -> None:
        if value is not None:
            values.append(value)

    with StoreLog({"bootstrap.servers": bootstrap}, topic, keep, name="raw") as log:
        log.load(30)
    return values


def test_create_prints_the_secret_once_and_nothing_else_shows_it(
    run: Run, bootstrap: str, store_topic: str
) -> None:
    done = run(
        "create", "--tenant", "acme", "--url", f"https://hooks.example.com/{PATH_TOKEN}/in",
        "--secret-header", f"Authorization: {HEADER_TOKEN}", "--header", "X-Customer: acme",
        "--event-type", "call.completed", "--metadata", "crm=hubspot",
    )  # fmt: skip
    ep, secret_line = _created(done)
    assert secret_line.startswith("signing secret (shown once")
    secret = secret_line.rsplit(" ", 1)[1]
    assert secret.startswith("whsec_")
    assert ep["tenant"] == "acme"
    assert ep["origin"] == "https://hooks.example.com"
    assert ep["secret_headers"] == ["Authorization"]
    assert done.stdout.count(secret) == 1
    got = run("get", ep["id"])
    listed = run("list")
    listed_json = run("list", "--tenant", "acme", "--json")
    checked = run("check")
    for out in (got, listed, listed_json, checked):
        assert out.returncode == 0, out.stderr
        for hidden in (secret, PATH_TOKEN, HEADER_TOKEN):
            assert hidden not in out.stdout + out.stderr
    assert json.loads(got.stdout)["id"] == ep["id"]
    assert ep["id"] in listed.stdout and "acme" in listed.stdout
    assert [e["id"] for e in json.loads(listed_json.stdout)] == [ep["id"]]
    assert "endpoints: 1 for 1 tenants" in checked.stdout
    raw = b"".join(_raw_topic(bootstrap, store_topic))
    assert ep["id"].encode() in raw  # the record is there ...
    for hidden in (secret, PATH_TOKEN, HEADER_TOKEN.split()[1]):
        assert hidden.encode() not in raw  # ... its secrets are not


def test_secret_from_stdin_is_used_and_not_printed(run: Run) -> None:
    ep, last = _created(
        run(
            "create",
            "--tenant",
            "acme",
            "--url",
            "https://hooks.example.com/a",
            "--secret-from-stdin",
            stdin=GIVEN_SECRET + "\n",
        )
    )
    assert last == "signing secret: the one read from stdin (not shown)"
    assert ep["id"]


def test_update_url_then_a_conflicting_update_loses(
    run: Run, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ep, _ = _created(run("create", "--tenant", "acme", "--url", "https://old.example.com/a"))
    updated = run("update", ep["id"], "--url", "https://new.example.com/b", "--description", "v2")
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout)["origin"] == "https://new.example.com"
    assert json.loads(run("get", ep["id"]).stdout)["description"] == "v2"

    # Two writers read the same version; the other one writes first (between this
    # process's read and its write): this one must lose, say so and exit 1.
    encode = cli_session.encode_or_exit

    def other_writer_first(session: Any, new: Any, revision: int) -> bytes:
        other = run("update", ep["id"], "--description", "the other writer")
        assert other.returncode == 0, other.stderr
        return encode(session, new, revision)

    monkeypatch.setenv("KH_TEST_KEYS", K1)
    monkeypatch.setattr(cli_session, "encode_or_exit", other_writer_first)
    with pytest.raises(SystemExit) as exited:
        main(["endpoints", "update", ep["id"], "--description", "mine", "--config", str(config)])
    assert exited.value.code == 1
    assert "conflict: the endpoint was changed by someone else" in capsys.readouterr().err
    shown = json.loads(run("get", ep["id"]).stdout)
    assert shown["description"] == "the other writer"  # exactly one won, for every reader
    assert shown["origin"] == "https://new.example.com"


def test_refusals_exit_2_naming_the_problem(run: Run, config: Path, tmp_path: Path) -> None:
    missing = run("list")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    for url, said in (
        ("http://hooks.example.com/a", "https://"),
        ("https://127.0.0.1/a", "non-public"),
        ("https://2130706433/a", "loopback"),  # another spelling of 127.0.0.1: the guard
    ):
        done = run("create", "--tenant", "acme", "--url", url)
        assert done.returncode == 2, done.stdout
        assert said in done.stderr
    assert run("get", "ep_01M8V0W2W83AY9VQRG6NGW2BWN").returncode == 2
    limited = _routes(tmp_path / "limited.yaml", *_store_of(config), max_endpoints_per_tenant=1)
    assert run("create", "--tenant", "t", "--url", "https://a.example.com/",
               config_file=limited).returncode == 0  # fmt: skip
    over = run("create", "--tenant", "t", "--url", "https://b.example.com/", config_file=limited)
    assert over.returncode == 2
    assert "max_endpoints_per_tenant" in over.stderr and "the limit is 1" in over.stderr


def _store_of(config: Path) -> tuple[str, str]:
    doc = yaml.safe_load(config.read_text())
    return doc["kafka"]["bootstrap_servers"], doc["endpoint_store"]["topic"]


def test_rotate_disable_enable_delete(run: Run) -> None:
    ep, first = _created(run("create", "--tenant", "acme", "--url", "https://h.example.com/a"))
    rotated = run("rotate-secret", ep["id"], "--expire-previous", "2h")
    assert rotated.returncode == 0, rotated.stderr
    new_secret = rotated.stdout.splitlines()[0].rsplit(" ", 1)[1]
    assert new_secret.startswith("whsec_") and new_secret != first.rsplit(" ", 1)[1]
    assert "the previous secret stays valid until" in rotated.stdout
    secrets = json.loads(run("get", ep["id"]).stdout)["secrets"]
    assert [s["expires"] is None for s in secrets] == [True, False]
    leaked = run("rotate-secret", ep["id"], "--expire-previous", "now")
    assert "expired now" in leaked.stdout
    assert len(json.loads(run("get", ep["id"]).stdout)["secrets"]) == 1

    assert run("disable", ep["id"]).stdout.strip() == f"{ep['id']}: disabled"
    assert json.loads(run("get", ep["id"]).stdout)["active"] is False
    assert run("enable", ep["id"]).returncode == 0
    assert json.loads(run("get", ep["id"]).stdout)["active"] is True

    deleted = run("delete", ep["id"])
    assert deleted.returncode == 0, deleted.stderr
    gone = run("get", ep["id"])
    assert gone.returncode == 2 and "no endpoint" in gone.stderr
    assert ep["id"] not in run("list").stdout


def _imported_secret(i: int) -> str:
    return "whsec_" + base64.b64encode(f"imported-secret-{i:06d}-abcdefgh".encode()).decode()


def test_import_of_2000_lines_twice(run: Run, tmp_path: Path, bootstrap: str) -> None:
    lines = tmp_path / "customers.jsonl"
    with lines.open("w") as f:
        for i in range(2000):
            line = {"tenant": f"t{i % 500}", "client_key": f"crm-{i}",
                    "url": f"https://hooks{i % 9}.example.com/in/{PATH_TOKEN}{i}",
                    "description": f"customer {i}",
                    "secret_headers": {"Authorization": f"{HEADER_TOKEN}{i}"}}  # fmt: skip
            if i % 2:
                line["secret"] = _imported_secret(i)
            f.write(json.dumps(line) + "\n")
    out = tmp_path / "secrets.jsonl"
    started = time.monotonic()
    first = run("import", str(lines), "--secrets-out", str(out))
    first_s = time.monotonic() - started
    started = time.monotonic()
    second = run("import", str(lines))
    second_s = time.monotonic() - started
    print(f"\nimport of 2,000 lines: first run {first_s:.2f} s, second run {second_s:.2f} s "
          f"(processes included)\n{first.stdout}{second.stdout}")  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "2000 created, 0 updated, 0 unchanged, 0 failed" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "0 created, 0 updated, 2000 unchanged, 0 failed" in second.stdout
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    generated = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(generated) == 1000  # the lines without a secret of their own
    for output in (first, second):
        assert _imported_secret(1) not in output.stdout + output.stderr
        assert generated[0]["secret"] not in output.stdout + output.stderr
    checked = run("check")
    assert "endpoints: 2,000 for 500 tenants" in checked.stdout

    # an edited line updates that endpoint only; a bad line fails alone, named
    text = lines.read_text().splitlines()
    text[7] = text[7].replace("customer 7", "customer seven")
    text.append(json.dumps({"tenant": "t1", "client_key": "bad", "url": "http://x.example/"}))
    lines.write_text("\n".join(text) + "\n")
    third = run("import", str(lines))
    assert "0 created, 1 updated, 1999 unchanged, 1 failed" in third.stdout
    assert f"{lines}:2001:" in third.stderr and "https://" in third.stderr
    assert third.returncode == 1


def test_reencrypt_moves_records_to_the_new_first_key_and_check_names_a_missing_one(
    run: Run,
) -> None:
    ids = [
        _created(run("create", "--tenant", f"t{i}", "--url", f"https://h.example.com/{i}"))[0]
        for i in range(3)
    ]
    both = f"{K2},{K1}"  # the new key first: new writes use it; k1 still decrypts
    done = run("reencrypt", keys=both)
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 3 of 3 record(s) under key id 'k2'" in done.stdout
    assert "key id k1: 3 -> 0 records" in done.stdout
    assert "key id k2: 0 -> 3 records" in done.stdout
    assert "records per key id: k2: 3" in run("check", keys=K2).stdout
    assert "re-encrypted 0 of 0" in run("reencrypt", keys=both).stdout

    missing = run("check", keys=K1)  # k2 removed too early
    assert missing.returncode == 2
    assert "missing key ids: k2 (3 records)" in missing.stderr
    refused = run("get", ids[0]["id"], keys=K1)
    assert refused.returncode == 2 and "k2" in refused.stderr


@pytest.fixture
def verifying_receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_test_sends_one_signed_sample_to_the_endpoint(
    run: Run, verifying_receiver: Receiver, bootstrap: str, store_topic: str
) -> None:
    ensure_store_topic({"bootstrap.servers": bootstrap}, store_topic, 15)
    ep, _ = _created(
        run(
            "create",
            "--tenant",
            "acme",
            "--url",
            verifying_receiver.url,
            "--secret-from-stdin",
            stdin=GIVEN_SECRET,
            allow_local=True,
        )
    )
    done = run("test", ep["id"], allow_local=True)
    assert done.returncode == 0, done.stderr
    assert "← HTTP 200" in done.stdout
    verifying_receiver.wait_count(1)
    request = verifying_receiver.requests[0]
    standardwebhooks.Webhook(GIVEN_SECRET).verify(request.body, request.headers)
    refused = run("test", ep["id"])  # without the allow-local switch: the guard refuses
    assert refused.returncode == 2
    assert "refused" in refused.stderr
    assert len(verifying_receiver.requests) == 1


def test_a_json_merge_patch_and_a_corrupt_record_check_reports(
    run: Run, bootstrap: str, store_topic: str
) -> None:
    ep, _ = _created(
        run(
            "create",
            "--tenant",
            "acme",
            "--url",
            "https://h.example.com/a",
            "--header",
            "X-Customer: acme",
            "--header",
            "X-Team: blue",
        )
    )
    patch = json.dumps({"headers": {"X-Customer": None}, "rate_limit": 20})
    patched = run("update", ep["id"], "--json", "-", stdin=patch)
    assert patched.returncode == 0, patched.stderr
    shown = json.loads(patched.stdout)
    assert (shown["headers"], shown["rate_limit"]) == (["X-Team"], 20)

    with StoreLog({"bootstrap.servers": bootstrap}, store_topic, lambda *_: None) as log:
        log.write(ep["id"], b"{not json", 15)  # a corrupt version of the endpoint
    checked = run("check")
    assert checked.returncode == 0, checked.stderr
    assert "rejected records: json: 1" in checked.stdout
    assert json.loads(run("get", ep["id"]).stdout)["rate_limit"] == 20  # the last good one


def test_a_running_bridge_delivers_with_what_the_cli_writes(
    run: Run, tmp_path: Path, bootstrap: str, store_topic: str,
    start_bridge: Callable[..., BridgeProcess],
) -> None:  # fmt: skip
    """create → the bridge delivers to it, signed with the given secret; update url → the
    next events go to the new URL; disable → they are finished without a delivery."""
    old, new = Receiver(), Receiver()
    try:
        topic, group = create_topic(bootstrap, unique("calls")), unique("g")
        doc = {
            "kafka": {"bootstrap_servers": bootstrap, "group_id": group,
                      "properties": dict(GROUP_TIMINGS)},
            "endpoint_store": {"topic": store_topic, "encryption_keys": "${KH_TEST_KEYS}"},
            "dead_letter_limit": {"enabled": False},
            "routes": [{
                "name": "calls", "topics": [topic], "event_type": "value.event",
                "template": {"id": "{{ value.id }}"},
                "signing": {"scheme": "standard-webhooks"},
                "endpoints": {"tenant": "value.account", "timeout": 5},
                "retry": {"max_attempts": 1},
            }],
        }  # fmt: skip
        config = tmp_path / "bridge.yaml"
        config.write_text(yaml.safe_dump(doc, sort_keys=False))
        ep, _ = _created(
            run(
                "create",
                "--tenant",
                "acme",
                "--url",
                old.url,
                "--secret-from-stdin",
                stdin=GIVEN_SECRET,
                allow_local=True,
                config_file=config,
            )
        )
        bridge = start_bridge(config, {"KH_TEST_KEYS": K1})
        event = {"event": "call.ended", "account": "acme"}
        produce(bootstrap, topic, [("k", {**event, "id": 1})])
        old.wait_count(1, timeout=60)
        standardwebhooks.Webhook(GIVEN_SECRET).verify(old.requests[0].body, old.requests[0].headers)

        moved = run("update", ep["id"], "--url", new.url, allow_local=True, config_file=config)
        assert moved.returncode == 0, moved.stderr
        sent = 1
        deadline = time.monotonic() + 30
        while not new.requests and time.monotonic() < deadline:  # until the bridge applied it
            sent += 1
            produce(bootstrap, topic, [("k", {**event, "id": sent})])
            time.sleep(0.5)
        new.wait_count(1)
        wait_until(lambda: committed(bootstrap, group, topic) == [sent], timeout=20)
        to_old = [r.json()["id"] for r in old.requests]
        to_new = [r.json()["id"] for r in new.requests]
        assert sorted(to_old + to_new) == list(range(1, sent + 1))  # each event once
        assert max(to_old) < min(to_new)  # one cut-over: no event went back to the old URL

        assert run("disable", ep["id"], config_file=config).returncode == 0
        time.sleep(3)  # the bridge follows the store (applied within ~0.5 s here): settle
        produce(bootstrap, topic, [("k", {**event, "id": sent + 1})])
        wait_until(lambda: committed(bootstrap, group, topic) == [sent + 1], timeout=20)
        assert [r.json()["id"] for r in new.requests] == to_new
        assert bridge.terminate() == 0, bridge.output()
    finally:
        old.close()
        new.close()
