"""docker-compose.yml and the Dockerfile: parsed and checked (no container engine runs here)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from kafkahooks.config import RoutesFile, load_config
from kafkahooks.decode import Decoders
from kafkahooks.decode.registry import registry_client
from kafkahooks.delivery.route import compile_route
from kafkahooks.event import Event

REPO = Path(__file__).resolve().parents[3]
CONFIG_PATH = "/etc/kafkahooks/routes.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text("utf-8"))
    return data


def _compose_env(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment after compose's own ``${VAR:-default}`` step (unset vars)."""

    def resolve(value: object) -> str:
        return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", str(value))

    return {name: resolve(value) for name, value in service["environment"].items()}


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path → host path of the service's bind mounts."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        out[target] = REPO / source
    return out


def _routes(compose: dict[str, Any], **env: str) -> RoutesFile:
    """The mounted routes file as every kafkahooks replica loads it (``env``: overrides)."""
    hooks = compose["services"]["kafkahooks"]
    return load_config(_mounts(hooks)[CONFIG_PATH], {**_compose_env(hooks), **env})


def test_services(compose: dict[str, Any]) -> None:
    assert {"kafka", "schema-registry", "topics", "kafkahooks", "receiver"} <= set(
        compose["services"]
    )


def test_kafka_is_apache_kafka_in_kraft_single_node_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert not any("ZOOKEEPER" in name for name in env)
    # a KRaft cluster id is a UUID in URL-safe base64
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_kafkahooks_runs_two_replicas_of_the_image_with_the_mounted_routes(
    compose: dict[str, Any],
) -> None:
    hooks = compose["services"]["kafkahooks"]
    assert hooks["build"] == "."
    assert hooks["deploy"]["replicas"] == 2
    assert "container_name" not in hooks  # a fixed name would forbid a second replica
    assert hooks["command"] == ["run", "--config", CONFIG_PATH]
    mounted = _mounts(hooks)[CONFIG_PATH]
    assert mounted == REPO / "deploy" / "compose" / "routes.yaml"
    assert mounted.is_file()
    env = _compose_env(hooks)
    assert env["KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["KAFKAHOOKS_ALLOW_LOCAL_TARGETS"] == "true"
    assert env["WEBHOOK_SECRET"]
    assert set(hooks["depends_on"]) == {"topics", "schema-registry", "receiver"}


def test_schema_registry_keeps_its_schemas_in_the_compose_kafka(compose: dict[str, Any]) -> None:
    registry = compose["services"]["schema-registry"]
    assert registry["image"].startswith("confluentinc/cp-schema-registry:")
    assert registry["depends_on"]["kafka"]["condition"] == "service_healthy"
    env = registry["environment"]
    assert env["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"] == "PLAINTEXT://kafka:9092"
    assert env["SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR"] == 1  # a one-node Kafka
    assert "http://localhost:8081/" in " ".join(registry["healthcheck"]["test"])
    # the bridge waits for it and reaches it by its service name on its listener port
    hooks = compose["services"]["kafkahooks"]
    assert hooks["depends_on"]["schema-registry"]["condition"] == "service_healthy"
    config = _routes(compose)
    assert config.schema_registry is not None
    assert env["SCHEMA_REGISTRY_LISTENERS"] == "http://0.0.0.0:8081"
    assert config.schema_registry.url == "http://schema-registry:8081"


def test_routes_file_has_one_json_and_one_registry_avro_route(compose: dict[str, Any]) -> None:
    config = _routes(compose)
    formats = {
        route.name: (config.sources.get(route.topics[0]) or config.sources.get("*"))
        for route in config.routes
    }
    assert set(formats) == {"call-status", "call-status-avro"}
    assert formats["call-status"] is None  # no sources entry: JSON values
    avro = formats["call-status-avro"]
    assert avro is not None and avro.value.format == "avro-registry"


def test_both_replicas_share_one_consumer_group(compose: dict[str, Any]) -> None:
    hooks = compose["services"]["kafkahooks"]
    config = load_config(_mounts(hooks)[CONFIG_PATH], _compose_env(hooks))
    assert config.kafka.group_id == "kafkahooks"
    assert "group.instance.id" not in config.kafka.properties


def test_target_is_the_receiver_service_with_the_same_secret(compose: dict[str, Any]) -> None:
    services = compose["services"]
    hooks, receiver = _compose_env(services["kafkahooks"]), _compose_env(services["receiver"])
    assert hooks["WEBHOOK_SECRET"] == receiver["WEBHOOK_SECRET"]
    for route in _routes(compose).routes:
        assert route.endpoint.url.startswith(f"http://receiver:{receiver['PORT']}/")
        assert route.signing is not None and route.signing.header == "x-signature"
        assert route.signing.encoding == "hex"  # what the sample receiver checks
    script = _mounts(services["receiver"])["/app/receiver.py"]
    assert script == REPO / "deploy" / "compose" / "receiver.py" and script.is_file()
    assert services["receiver"]["command"] == ["python", "/app/receiver.py"]


def test_topics_service_creates_every_topic_the_routes_use(compose: dict[str, Any]) -> None:
    services = compose["services"]
    script = " ".join(services["topics"]["command"])
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["kafkahooks"]["depends_on"]["topics"]["condition"] == (
        "service_completed_successfully"
    )
    for route in _routes(compose).routes:
        for topic in route.topics:
            assert topic in script
            assert route.dead_letter_for(topic) in script


def test_check_accepts_the_mounted_routes_file(compose: dict[str, Any]) -> None:
    hooks = compose["services"]["kafkahooks"]
    env = {**os.environ, **_compose_env(hooks)}
    done = subprocess.run(
        [sys.executable, "-m", "kafkahooks.cli", "check", "--config", "deploy/compose/routes.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout
    assert env["WEBHOOK_SECRET"] not in done.stdout + done.stderr


def _header_sample(compose_text: str, topic: str) -> tuple[str, str]:
    """(command, record) of the header's instructions for producing to ``topic``."""
    lines = [line.removeprefix("#").strip() for line in compose_text.splitlines()]
    start = next(i for i, line in enumerate(lines) if f"--topic {topic} " in line)
    command, i = [], start - 1
    while lines[i].endswith("\\"):
        command.append(lines[i])
        i += 1
    return " ".join([*command, lines[i]]), lines[i + 1]


def test_the_avro_sample_in_the_header_reaches_the_receiver_as_json(
    compose: dict[str, Any],
) -> None:
    """The documented Avro producer command, its schema and the Avro route fit together:
    a record written as the Confluent serializer writes it renders to the JSON webhook."""
    command, record = _header_sample(
        (REPO / "docker-compose.yml").read_text("utf-8"), "calls.status.avro"
    )
    schema_flag = re.search(r"value\.schema\.file=(\S+)", command)
    assert schema_flag is not None and "key.serializer=" in command
    schema_file = _mounts(compose["services"]["schema-registry"])[schema_flag.group(1)]
    key, value = record.split(":", 1)

    config = _routes(compose, SCHEMA_REGISTRY_URL=f"mock://compose-{uuid.uuid4().hex[:8]}")
    assert config.schema_registry is not None
    serializer = AvroSerializer(registry_client(config.schema_registry), schema_file.read_text())
    raw = serializer(
        json.loads(value), SerializationContext("calls.status.avro", MessageField.VALUE)
    )
    assert raw is not None and raw[0] == 0  # the Confluent wire format

    route = compile_route(next(r for r in config.routes if r.name == "call-status-avro"), True)
    plan = Decoders(config.sources, config.schema_registry).plan("calls.status.avro", [route])
    event = Event("calls.status.avro", 0, 7, 1_718_000_000_000, key.encode(), raw)
    reading = plan.read(event)
    assert not reading.failures
    ((decoded, routes),) = reading.views
    matched, event_type = route.match(decoded)
    assert matched and routes == (route,)
    body = json.loads(route.render_body(route.context(decoded, event_type)))
    assert body["event"] == "status-changed"
    assert body["callId"] == "call-2"
    assert body["data"]["status"] == "ringing"
    assert body["meta"]["eventId"].startswith("evt_")


def test_dockerfile() -> None:
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text("utf-8").splitlines()]
    froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert froms and all(image == "python:3.11-slim" for image in froms)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert 'ENTRYPOINT ["kafkahooks"]' in lines
    assert f'CMD ["run", "--config", "{CONFIG_PATH}"]' in lines
    assert (REPO / ".dockerignore").is_file()


# -- the sample receiver, run on loopback -----------------------------------

SECRET = "compose-test-secret"


def _load_receiver() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "compose_receiver", REPO / "deploy" / "compose" / "receiver.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def receiver_url() -> Iterator[str]:
    server = _load_receiver().make_server("127.0.0.1", 0, SECRET)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/calls"
    server.shutdown()
    server.server_close()


def _post(url: str, body: bytes, signature: str | None) -> int:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-signature"] = signature
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_sample_receiver_accepts_only_valid_signatures(receiver_url: str) -> None:
    body = b'{"event":"status-changed","data":{"status":"ringing"}}'
    good = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert _post(receiver_url, body, good) == 200
    assert _post(receiver_url, body + b" ", good) == 401
    assert _post(receiver_url, body, "0" * 64) == 401
    assert _post(receiver_url, body, None) == 401
